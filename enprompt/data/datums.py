"""Turning ``(image path, label, class name)`` records into ``Datum`` objects."""
import os.path as osp

from .errors import DatasetNotReadyError

__all__ = ["make_datums", "make_datum_lists", "missing_files"]


def missing_files(paths):
    """The paths of ``paths`` that are not existing files, in order."""
    return [p for p in paths if not osp.isfile(p)]


def make_datums(records, source, fix, dataset=None, docs=None):
    """Build one ``Datum`` per record after checking that every image exists.

    Dassl's ``Datum`` asserts that its image exists, which stops at the first
    missing file with a bare ``AssertionError``. This checks all files first
    and reports how many are missing and which.

    Args:
        records (iterable): ``(impath, label, classname)`` triples.
        source (str): the file (or folder) the records come from, named in
            the error.
        fix (str): what the user should do when images are missing.
        dataset (str): reader name for the error message.
        docs (str): documentation link for the error message.

    Returns:
        list[Datum]

    Raises:
        DatasetNotReadyError: some images are not on disk.
    """
    records = list(records)
    missing = missing_files(r[0] for r in records)
    if missing:
        raise DatasetNotReadyError.missing_images(
            missing, len(records), source, fix, dataset=dataset, docs=docs
        )
    from enprompt.dassl import Datum  # the engine's; imported here so that `check` needs no torch

    return [Datum(impath=impath, label=int(label), classname=classname)
            for impath, label, classname in records]


def make_datum_lists(lists, source, fix, dataset=None, docs=None):
    """:func:`make_datums` for several record lists (e.g. train, val, test) at once.

    One check covers all lists, so an error counts every missing image.

    Returns:
        list[list[Datum]]: one list per input list.
    """
    lists = [list(records) for records in lists]
    datums = make_datums(
        [r for records in lists for r in records], source, fix, dataset=dataset, docs=docs
    )
    output, start = [], 0
    for records in lists:
        output.append(datums[start:start + len(records)])
        start += len(records)
    return output
