"""Split files and the random splits of the CoOp-family readers.

The split file (``split_zhou_<Reader>.json``) is a JSON object with the keys
``"train"``, ``"val"`` and ``"test"``; each holds a list of
``[image path, label, class name]`` with 0-based labels and image paths
relative to a prefix folder: the image folder for every dataset except
Stanford Cars, whose paths are relative to the dataset folder. This is the
format CoOp's ``OxfordPets.save_split`` writes and ``read_split`` reads, so
published split files give exactly CoOp's lists.

When a dataset has no split file, the reader creates one with the helpers
below, which consume Python's ``random`` exactly as CoOp's readers do (after
``set_random_seed``); folder listings are sorted first, so the result does
not depend on the filesystem.
"""
import os.path as osp
import random
from collections import defaultdict

from enprompt.fileio import listdir_nohidden, read_json, write_json

from .datums import make_datum_lists
from .errors import DatasetNotReadyError

__all__ = [
    "SPLIT_KEYS",
    "read_split",
    "read_split_records",
    "save_split",
    "relative_path",
    "datum_records",
    "split_trainval",
    "split_counts",
    "min_images_to_split",
    "split_per_class",
    "read_and_split_data",
    "list_class_folders",
]

SPLIT_KEYS = ("train", "val", "test")


def read_split_records(filepath, path_prefix, keys=SPLIT_KEYS, dataset=None, docs=None,
                       fix_malformed=None):
    """Read a file in the split-file format into
    ``{key: [(absolute impath, label, classname), ...]}``.

    The few-shot and ImageNet caches use the same format (with other keys);
    ``fix_malformed`` says what to do when such a file is malformed.

    Raises:
        DatasetNotReadyError: the file is not valid JSON or lacks a key, or a
            record is not ``[path, integer label, classname]``.
    """
    def malformed(what):
        return DatasetNotReadyError(
            f"the file is malformed: {what}",
            path=filepath,
            fix=fix_malformed or "delete it and download the published split file again, "
                                 "or delete it to let the reader create a new split",
            dataset=dataset,
            docs=docs,
        )

    try:
        split = read_json(filepath)
    except ValueError as e:
        raise malformed(f"not valid JSON ({e})") from e
    if not isinstance(split, dict):
        raise malformed(f"expected a JSON object with keys {list(keys)}")
    output = {}
    for key in keys:
        if key not in split:
            raise malformed(f'no "{key}" list (expected keys {list(keys)})')
        records = []
        for item in split[key]:
            if not (isinstance(item, (list, tuple)) and len(item) == 3):
                raise malformed(f'an entry of "{key}" is {item!r}, expected [path, label, classname]')
            impath, label, classname = item
            if not (isinstance(impath, str) and isinstance(label, int) and isinstance(classname, str)):
                raise malformed(f'an entry of "{key}" is {item!r}, expected [path, label, classname]')
            records.append((osp.join(path_prefix, impath), label, classname))
        output[key] = records
    return output


def read_split(filepath, path_prefix, dataset=None, docs=None):
    """Read a split file (CoOp's ``OxfordPets.read_split``).

    Args:
        filepath (str): the ``split_zhou_*.json`` file.
        path_prefix (str): folder the stored image paths are relative to.
        dataset, docs: reader name and documentation link for error messages.

    Returns:
        (train, val, test): lists of ``Datum``.

    Raises:
        DatasetNotReadyError: the file is malformed or names images that are
            not on disk (the message says how many and gives examples).
    """
    print(f"Reading split from {filepath}")
    records = read_split_records(filepath, path_prefix, dataset=dataset, docs=docs)
    fix = (
        f"the split file names images relative to {path_prefix}: check that the images "
        "were extracted there from the official archive (see the docs), or delete the "
        "split file to create a new split from the images on disk"
    )
    return tuple(make_datum_lists(
        [records[key] for key in SPLIT_KEYS], filepath, fix, dataset=dataset, docs=docs
    ))


def relative_path(impath, folder):
    """``impath`` relative to ``folder`` when it lies inside it, else unchanged
    (CoOp strips the prefix and the separator after it)."""
    prefix = osp.join(folder, "")
    return impath[len(prefix):] if folder and impath.startswith(prefix) else impath


def datum_records(items, folder):
    """``[(path relative to folder, label, classname), ...]`` of a list of ``Datum``."""
    return [(relative_path(item.impath, folder), item.label, item.classname) for item in items]


def save_split(train, val, test, filepath, path_prefix, extra=None):
    """Write a split file (CoOp's ``OxfordPets.save_split``), atomically.

    Image paths are stored relative to ``path_prefix``. ``extra`` (a dict)
    adds keys next to the three lists (readers of the format ignore them).
    """
    split = {key: datum_records(items, path_prefix) for key, items in zip(SPLIT_KEYS, (train, val, test))}
    split.update(extra or {})
    write_json(split, filepath)
    print(f"Saved split to {filepath}")


def _too_small(what, n, needed, source):
    return DatasetNotReadyError(
        f"{what} has only {n} image(s); creating the split needs at least {needed} per class",
        path=source,
        fix="use the published split file (python -m enprompt.data download-splits ...) or "
            "check that the dataset was extracted completely",
    )


def split_trainval(trainval, p_val=0.2):
    """Split a train+val list per class into train and val (CoOp's
    ``OxfordPets.split_trainval``).

    For each class, in order of first appearance, its items are shuffled with
    Python's ``random`` and the first ``round(p_val * n)`` (banker's
    rounding) go to val, the rest to train.

    Raises:
        DatasetNotReadyError: a class is too small to give a val item.
    """
    p_trn = 1 - p_val
    print(f"Splitting trainval into {p_trn:.0%} train and {p_val:.0%} val")
    tracker = defaultdict(list)
    for idx, item in enumerate(trainval):
        tracker[item.label].append(idx)

    train, val = [], []
    for label, idxs in tracker.items():
        n_val = round(len(idxs) * p_val)
        if n_val <= 0:
            cname = trainval[idxs[0]].classname
            raise _too_small(f'class "{cname}" (label {label})', len(idxs), 3, None)
        random.shuffle(idxs)
        for n, idx in enumerate(idxs):
            (val if n < n_val else train).append(trainval[idx])
    return train, val


def split_counts(n_total, p_trn=0.5, p_val=0.2):
    """``(n_train, n_val, n_test)`` of a class of ``n_total`` images, as
    :func:`split_per_class` splits it: ``round(p * n)`` (banker's rounding)
    for train and val, the rest for test."""
    n_train = round(n_total * p_trn)
    n_val = round(n_total * p_val)
    return n_train, n_val, n_total - n_train - n_val


def min_images_to_split(p_trn=0.5, p_val=0.2):
    """The fewest images per class that give every part of the split one image."""
    n = 1
    while min(split_counts(n, p_trn, p_val)) <= 0:
        n += 1
    return n


def split_per_class(groups, p_trn=0.5, p_val=0.2, source=None, rng=random):
    """Split each class's images into train / val / test.

    Args:
        groups (iterable): ``(label, classname, [impath, ...])`` per class, in
            the order the classes are processed (this order decides how
            ``rng`` is consumed).
        p_trn, p_val (float): shares of train and val; test gets the rest
            (:func:`split_counts`, as in CoOp).
        source (str): folder or file named in errors.
        rng: what shuffles: Python's global ``random`` (CoOp's readers,
            seeded by the run's seed), or a ``random.Random`` of its own.

    Returns:
        (train, val, test): lists of ``Datum``.
    """
    p_tst = 1 - p_trn - p_val
    print(f"Splitting into {p_trn:.0%} train, {p_val:.0%} val, and {p_tst:.0%} test")
    parts = ([], [], [])
    for label, classname, impaths in groups:
        impaths = list(impaths)
        rng.shuffle(impaths)
        n_total = len(impaths)
        n_train, n_val, n_test = split_counts(n_total, p_trn, p_val)
        if n_train <= 0 or n_val <= 0 or n_test <= 0:
            raise _too_small(f'class "{classname}" (label {label})', n_total,
                             min_images_to_split(p_trn, p_val), source)
        bounds = (0, n_train, n_train + n_val, n_total)
        for records, start, stop in zip(parts, bounds[:-1], bounds[1:]):
            records.extend((p, label, classname) for p in impaths[start:stop])
    fix = "check that the dataset archive was extracted completely (see the docs)"
    return tuple(make_datum_lists(parts, source, fix))


def list_class_folders(folder, ignored=()):
    """Sorted names of the non-hidden sub-folders of ``folder``, minus ``ignored``."""
    return sorted(
        name for name in listdir_nohidden(folder)
        if name not in ignored and osp.isdir(osp.join(folder, name))
    )


def read_and_split_data(image_dir, p_trn=0.5, p_val=0.2, ignored=(), new_cnames=None):
    """Create a 50/20/30 split from a folder of class folders (CoOp's
    ``DescribableTextures.read_and_split_data``).

    Class folders (minus ``ignored``) are sorted and numbered from 0; the
    images of each class are sorted, then shuffled with Python's ``random``.
    The class name is the folder name, or ``new_cnames[folder]`` if given.

    Returns:
        (train, val, test): lists of ``Datum``.
    """
    new_cnames = new_cnames or {}
    groups = []
    for label, category in enumerate(list_class_folders(image_dir, ignored)):
        category_dir = osp.join(image_dir, category)
        impaths = [
            osp.join(category_dir, name) for name in sorted(listdir_nohidden(category_dir))
            if osp.isfile(osp.join(category_dir, name))
        ]
        groups.append((label, new_cnames.get(category, category), impaths))
    return split_per_class(groups, p_trn, p_val, source=image_dir)

