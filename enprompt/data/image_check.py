"""Drop images that cannot be decoded, when the user asks for it.

By default an unreadable image stops the run with an error naming the file
(``read_image``). With ``DATALOADER.SKIP_BAD_IMAGES True`` every image of the
lists a run will use is decoded once at start; those that fail are dropped
with one warning that gives their number and the first few paths.
"""
import warnings

from PIL import Image

__all__ = ["BadImageWarning", "is_readable_image", "drop_unreadable_images"]

_SHOWN = 5


class BadImageWarning(UserWarning):
    """Unreadable images were dropped from the lists."""


def is_readable_image(path):
    """True if PIL can fully decode the image at ``path``."""
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def drop_unreadable_images(lists, names):
    """Remove unreadable images from each list of ``Datum``.

    Args:
        lists (list[list[Datum]]): e.g. ``[train, val, test]``; a list may be
            shared (the same object twice) and is then checked once.
        names (list[str]): a name per list for the warning (e.g. "train").

    Returns:
        list[list[Datum]]: the filtered lists, in the same order.
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
    counts = ", ".join(
        f"{name}: {len(items) - len(kept)}" for name, items, kept in zip(names, lists, filtered)
        if len(items) != len(kept)
    )
    shown = "; ".join(bad[:_SHOWN]) + ("; ..." if len(bad) > _SHOWN else "")
    warnings.warn(
        f"Skipped {len(bad)} unreadable image(s) ({counts}) because "
        f"DATALOADER.SKIP_BAD_IMAGES is True: {shown}",
        BadImageWarning,
        stacklevel=2,
    )
    return filtered
