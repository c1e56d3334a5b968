"""The images a classifier is given, turned into batches of its input.

Accepted, alone or mixed in a list:

* a path (``str`` or ``os.PathLike``) of an image file;
* a ``PIL.Image.Image``;
* a ``uint8`` tensor ``[3, H, W]`` or ``[B, 3, H, W]`` (RGB): raw images;
* a floating-point tensor ``[3, h, w]`` or ``[B, 3, h, w]`` at the model's
  input size: images already through the test transform (``clf.transform``).

Raw images go through the run's own test transform. Paths are checked
before any image is read, and images are read one batch at a time.
"""
import os
import os.path as osp
from functools import partial

import torch
from PIL import Image

from enprompt.errors import UserError

__all__ = ["ImageInputError", "read_rgb", "image_items", "batches"]


class ImageInputError(UserError, ValueError):
    """An input is not an image the classifier can read; the message names it."""


def read_rgb(path):
    """The image at ``path`` as an RGB ``PIL.Image`` (as the data loaders read it).

    Raises:
        ImageInputError: the file is not an image PIL can decode.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageInputError(f'"{path}" is not an image that can be read ({e})') from e


def _missing(paths):
    examples = ", ".join(f'"{p}"' for p in paths[:5])
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return FileNotFoundError(f"No such image file: {examples}{more}")


def _tensor_items(tensor, index, transform, size):
    batch = tensor.unsqueeze(0) if tensor.dim() == 3 else tensor
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ImageInputError(
            f"input {index} is a tensor of shape {tuple(tensor.shape)}; expected [3, H, W] or "
            "[B, 3, H, W] (RGB)"
        )
    name = f"<tensor {index}>" if tensor.dim() == 3 else None
    sources = [name or f"<tensor {index}[{i}]>" for i in range(batch.shape[0])]
    if batch.dtype == torch.uint8:
        from torchvision.transforms.functional import to_pil_image

        return [(src, partial(_transformed, to_pil_image(img), transform))
                for src, img in zip(sources, batch)]
    if not batch.is_floating_point():
        raise ImageInputError(
            f"input {index} is a {batch.dtype} tensor; give uint8 tensors for raw images or "
            "floating-point tensors already through the test transform"
        )
    if tuple(batch.shape[2:]) != tuple(size):
        raise ImageInputError(
            f"input {index} is a floating-point tensor of size {tuple(batch.shape[2:])}; such "
            f"tensors are taken as already through the test transform, so they must be "
            f"{tuple(size)} (use clf.transform(pil_image)), or give raw images as uint8 tensors"
        )
    return [(src, partial(_as_is, img)) for src, img in zip(sources, batch)]


def _as_is(image):
    return image


def _transformed(image, transform):
    return transform(image)


def _from_path(path, transform):
    return transform(read_rgb(path))


def image_items(inputs, transform, size):
    """``[(source, load)]``: one per image, ``load()`` giving its input tensor [3, h, w].

    Args:
        inputs: one input or a list of inputs (see the module docstring).
        transform (callable): the test transform (PIL image -> tensor).
        size (tuple): the model's input size ``(h, w)``.

    Raises:
        FileNotFoundError: paths that are not files (all of them, named).
        ImageInputError: a folder, or a tensor of another shape.
        TypeError: an input of another type.
    """
    if isinstance(inputs, (str, os.PathLike, Image.Image, torch.Tensor)):
        inputs = [inputs]
    items, missing = [], []
    for index, value in enumerate(inputs):
        if isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            if osp.isdir(path):
                raise ImageInputError(
                    f'"{path}" is a folder: give its image files (python -m enprompt.predict '
                    "reads folders)"
                )
            if not osp.isfile(path):
                missing.append(path)
            items.append((path, partial(_from_path, path, transform)))
        elif isinstance(value, Image.Image):
            items.append((f"<image {index}>", partial(_transformed, value.convert("RGB"), transform)))
        elif isinstance(value, torch.Tensor):
            items.extend(_tensor_items(value, index, transform, size))
        else:
            raise TypeError(
                f"input {index} is a {type(value).__name__}; expected an image path, a PIL "
                "image or a tensor"
            )
    if missing:
        raise _missing(missing)
    return items


def batches(items, batch_size):
    """Yield ``(sources, images [B, 3, h, w])`` of at most ``batch_size`` items."""
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        yield [source for source, _ in chunk], torch.stack([load() for _, load in chunk])
