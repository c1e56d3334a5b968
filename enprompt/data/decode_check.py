"""Decode every image a dataset's runs use, before any run: ``check --decode``.

An undecodable test image is otherwise found only when the final test reads
it, after every training epoch. ``python -m enprompt.data check --decode``
decodes, with a progress bar, each image of the splits in use, as the data
loaders decode it (:func:`~enprompt.data.image_files.decode_error`):

* the images the split file names (train, val and test; few-shot samples
  are drawn from its train list), when the dataset has one on disk;
* otherwise (ImageNet, the test-only ImageNet variants, or a split not
  created yet) every image file under the dataset's image folder.

PIL and tqdm only, no PyTorch. :func:`undecodable` is the loop, for any list
of paths.
"""
import os
import os.path as osp
import sys

from .checks import Problem, dataset_dir_of
from .errors import MAX_EXAMPLES
from .image_files import decode_error, is_image_file

__all__ = ["undecodable", "images_in_use", "undecodable_problems", "decode_problems"]


def undecodable(paths, desc="decoding images", progress=True):
    """``[(path, reason), ...]`` of the ``paths`` that do not decode, in order.

    Args:
        paths (list[str]): image files.
        desc (str): the progress bar's label.
        progress (bool): show a tqdm progress bar (on stderr).
    """
    from tqdm import tqdm

    bad = []
    for path in tqdm(paths, desc=desc, unit="img", disable=not progress, file=sys.stderr,
                     dynamic_ncols=True):
        reason = decode_error(path)
        if reason is not None:
            bad.append((path, reason))
    return bad


def _image_files_under(folder):
    paths = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        paths.extend(osp.join(dirpath, name) for name in sorted(filenames)
                     if is_image_file(name) and not name.startswith("."))
    return paths


def images_in_use(layout, root):
    """``(paths, source)``: the images to decode for ``layout`` and what lists them.

    Raises:
        DatasetNotReadyError: the split file is malformed (the deep check
            reports it first, so ``check`` does not get here with one).
    """
    from .splits import read_split_records

    dataset_dir = dataset_dir_of(layout, root)
    split_path = osp.join(dataset_dir, layout.split_file) if layout.split_file else ""
    if split_path and osp.isfile(split_path):
        records = read_split_records(split_path, osp.join(dataset_dir, layout.split_prefix),
                                     dataset=layout.reader, docs=layout.docs)
        paths = list(dict.fromkeys(r[0] for key in records for r in records[key]))
        return paths, split_path
    image_dir = osp.join(dataset_dir, layout.image_folder)
    return _image_files_under(image_dir), image_dir


def undecodable_problems(paths, source, name, progress=True):
    """Decode ``paths`` (listed by ``source``, the dataset ``name``): a
    :class:`~enprompt.data.checks.Problem` naming the undecodable ones, or []."""
    bad = undecodable(paths, desc=f"{name}: decoding", progress=progress)
    if not bad:
        return []
    examples = "\n".join(f"      {path}: {reason}" for path, reason in bad[:MAX_EXAMPLES])
    more = f"\n      ... and {len(bad) - MAX_EXAMPLES} more" if len(bad) > MAX_EXAMPLES else ""
    return [Problem(
        source,
        f"{len(bad)} of the {len(paths)} images cannot be decoded, for example:\n{examples}{more}",
        "replace these files with readable ones (extract the official archive again over the "
        "dataset folder, or delete them), or set DATALOADER.SKIP_BAD_IMAGES True to skip them "
        "with a warning",
    )]


def decode_problems(layout, root, progress=True):
    """:func:`undecodable_problems` of the images of ``layout``'s splits in use."""
    paths, source = images_in_use(layout, root)
    return undecodable_problems(paths, source, layout.name, progress=progress)
