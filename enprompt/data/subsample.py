"""Base-to-new class split (CoOp's ``OxfordPets.subsample_classes``)."""
import math

from enprompt.choices import SUBSAMPLE_CHOICES, check_choice
from enprompt.dassl import Datum

__all__ = ["SUBSAMPLE_CHOICES", "subsample_classes", "base_new_labels"]


def base_new_labels(labels, subsample):
    """The labels kept by ``subsample`` out of ``labels``.

    The labels are sorted; with ``n`` of them the first ``ceil(n / 2)`` are
    the base classes and the others the new classes.
    """
    labels = sorted(set(labels))
    m = math.ceil(len(labels) / 2)
    return labels[:m] if subsample == "base" else labels[m:]


def subsample_classes(*lists, subsample="all"):
    """Keep the base or the new half of the classes and relabel them 0..k-1.

    Args:
        *lists: lists of ``Datum`` (e.g. train, val, test). The classes are
            those of the **first** list.
        subsample (str): ``"all"`` (unchanged), ``"base"`` or ``"new"``.

    Returns:
        the lists in the same order (a tuple), each holding new ``Datum``
        objects with labels renumbered in sorted order of the kept labels.

    Raises:
        ValueError: ``subsample`` is not one of ``SUBSAMPLE_CHOICES``, or no
            class is left (e.g. ``"new"`` on a one-class list).
    """
    check_choice("DATASET.SUBSAMPLE_CLASSES", subsample)
    if subsample == "all":
        return lists

    all_labels = {item.label for item in lists[0]}
    selected = base_new_labels(all_labels, subsample)
    if not selected:
        raise ValueError(
            f'DATASET.SUBSAMPLE_CLASSES "{subsample}" leaves no class: the training list has '
            f"{len(all_labels)} class(es) and the base half takes the first ceil(n/2). "
            "Use SUBSAMPLE_CLASSES all, or a dataset with at least 2 classes."
        )
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    relabel = {label: new for new, label in enumerate(selected)}
    return tuple(
        [
            Datum(impath=item.impath, label=relabel[item.label], classname=item.classname)
            for item in items
            if item.label in relabel
        ]
        for items in lists
    )
