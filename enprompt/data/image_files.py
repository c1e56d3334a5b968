"""What an image file is, and whether it decodes: one definition for the project.

* :data:`IMAGE_EXTENSIONS` and :func:`is_image_file`: only files with these
  extensions (any case) are images. Split files created from class folders,
  the ImageNet-style folder lists and the dataset checks count these and
  nothing else, so a ``README.txt`` in a class folder never becomes a
  training or test item.
* :func:`read_rgb` and :func:`decode_error`: decoding an image exactly as the
  data loaders do (PIL, converted to RGB); :func:`decode_error` says why a
  file does not decode, for the checks that look at every image first.
* :class:`ImageReadError`: the error of an unreadable image, naming the file
  and the fix; it keeps that message first even when a ``DataLoader`` worker
  raised it.

Standard library only at import time (PIL is imported when an image is
decoded), so ``python -m enprompt.data check`` stays free of PyTorch.
"""
import os.path as osp

from enprompt.errors import UserError

__all__ = [
    "IMAGE_EXTENSIONS",
    "is_image_file",
    "read_rgb",
    "decode_errors",
    "decode_error",
    "ImageReadError",
    "image_read_error",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_image_file(name):
    """True if the file name (or path) ends with one of :data:`IMAGE_EXTENSIONS`, any case."""
    return osp.basename(name).lower().endswith(IMAGE_EXTENSIONS)


def read_rgb(path):
    """The image at ``path`` as an RGB ``PIL.Image``, fully decoded (as Dassl's ``read_image``)."""
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def decode_errors():
    """The exceptions PIL raises for a file it cannot decode (a missing file included)."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def decode_error(path):
    """None if ``path`` decodes (:func:`read_rgb`), else why not, in one line."""
    try:
        read_rgb(path)
    except decode_errors() as e:
        return _one_line(e)
    return None


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


class ImageReadError(UserError, OSError):
    """An image cannot be read; the message names the file and the fix.

    Raised in a ``DataLoader`` worker (``DATALOADER.NUM_WORKERS > 0``), it
    reaches the main process re-created by PyTorch from one string, "Caught
    ImageReadError in DataLoader worker process 0. Original Traceback ...
    ImageReadError: <message>". The message is taken back from the end of that
    string, so the path and the fix come first; the worker's traceback is kept
    in ``worker_traceback``.
    """

    def __init__(self, message):
        self.worker_traceback = None
        marker = f"{type(self).__name__}: "
        if message.startswith("Caught ") and marker in message:
            self.worker_traceback = message
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)

    def __str__(self):
        return self.args[0] if self.args else ""


def image_read_error(path, error, hint=""):
    """The :class:`ImageReadError` for ``path``, which failed with ``error``.

    Args:
        hint (str): another way out, appended to the fix (e.g. the reader
            option that skips unreadable images).
    """
    fix = "Check the file (re-download or re-extract the dataset)"
    return ImageReadError(
        f'Cannot read image "{path}": {_one_line(error)}. {fix}{", or " + hint if hint else ""}.'
    )
