"""Drop images that cannot be decoded, when the user asks for it.

By default an unreadable image stops the run with an error naming the file
(``read_image``). With ``DATALOADER.SKIP_BAD_IMAGES True`` every image of the
lists a run will use is decoded once at start; those that fail are dropped
with one warning that gives their number and the first few paths.

Dropping images never drops a class: the class list and the number of
classes come from the training list, so a class left without training images
would shift every later label off its name. That stops the run with a
:class:`~enprompt.data.errors.DatasetNotReadyError` naming the class.
"""
from enprompt.notices import Notice, notice

from .errors import MAX_EXAMPLES, DatasetNotReadyError
from .image_files import decode_error

__all__ = ["BadImageWarning", "is_readable_image", "drop_unreadable_images"]

_SHOWN = 5


class BadImageWarning(Notice):
    """Unreadable images were dropped from the lists."""


def is_readable_image(path):
    """True if the image at ``path`` decodes as the data loaders decode it."""
    return decode_error(path) is None


def _raise_if_a_class_is_emptied(before, after, name, dataset, docs):
    kept = {item.label for item in after}
    lost = {}
    for item in before:
        if item.label not in kept:
            lost.setdefault((item.label, item.classname), []).append(item.impath)
    if not lost:
        return
    classes = ", ".join(f'"{classname}" (label {label}, {len(paths)} images)'
                        for (label, classname), paths in sorted(lost.items()))
    examples = [path for paths in lost.values() for path in paths][:MAX_EXAMPLES]
    raise DatasetNotReadyError(
        f"every {name} image of {len(lost)} class(es) is unreadable: {classes}. Dropping them "
        "(DATALOADER.SKIP_BAD_IMAGES True) would remove the class, and the class list and "
        "labels are taken from the training list. Its unreadable training images, for example:\n"
        + "\n".join(f"      {path}" for path in examples),
        path=examples[0],
        fix="replace these files with readable images (extract the official archive again "
        "over the dataset folder), then rerun",
        dataset=dataset,
        docs=docs,
    )


def drop_unreadable_images(lists, names, dataset=None, docs=None):
    """Remove unreadable images from each list of ``Datum``.

    Args:
        lists (list[list[Datum]]): e.g. ``[train, val, test]``; a list may be
            shared (the same object twice) and is then checked once. The
            first list defines the classes (as ``DatasetBase`` takes them
            from ``train_x``).
        names (list[str]): a name per list for the warning (e.g. "train").
        dataset (str, optional): reader name, for the error.
        docs (str, optional): documentation section, for the error.

    Returns:
        list[list[Datum]]: the filtered lists, in the same order.

    Raises:
        DatasetNotReadyError: every image of a class of the first list is
            unreadable; the message names the class and its files.
    """
    verdict = {}
    for items in lists:
        for item in items:
            if item.impath not in verdict:
                verdict[item.impath] = is_readable_image(item.impath)
    bad = [path for path, ok in verdict.items() if not ok]
    if not bad:
        return [list(items) for items in lists]
    filtered = [[item for item in items if verdict[item.impath]] for items in lists]
    _raise_if_a_class_is_emptied(lists[0], filtered[0], names[0], dataset, docs)
    counts = ", ".join(
        f"{name}: {len(items) - len(kept)}" for name, items, kept in zip(names, lists, filtered)
        if len(items) != len(kept)
    )
    shown = "; ".join(bad[:_SHOWN]) + ("; ..." if len(bad) > _SHOWN else "")
    notice(
        f"Skipped {len(bad)} unreadable image(s) ({counts}) because "
        f"DATALOADER.SKIP_BAD_IMAGES is True: {shown}",
        BadImageWarning,
        stacklevel=1,
    )
    return filtered
