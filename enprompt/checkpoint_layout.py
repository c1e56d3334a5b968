"""Dassl's checkpoint file layout, in one place (standard library only).

::

    <run>/<model name>/model.pth.tar-<epoch>   # one per kept epoch (epoch is 1-based)
    <run>/<model name>/model-best.pth.tar      # TEST.FINAL_MODEL best_val
    <run>/<model name>/checkpoint              # text: the name of the last file written

The built-in engine writes these files (``enprompt.engine.checkpoint``); the
run state (``enprompt.run``) and the scripts read them without PyTorch.
"""
import os
import os.path as osp
import re

__all__ = [
    "POINTER_FILE",
    "BEST_NAME",
    "EPOCH_PREFIX",
    "checkpoint_name",
    "epoch_of",
    "list_checkpoints",
    "saved_epochs",
]

POINTER_FILE = "checkpoint"
BEST_NAME = "model-best.pth.tar"
EPOCH_PREFIX = "model.pth.tar-"

_EPOCH_FILE = re.compile(r"^" + re.escape(EPOCH_PREFIX) + r"(\d+)$")


def checkpoint_name(epoch=None):
    """``model.pth.tar-<epoch>``, or ``model-best.pth.tar`` when ``epoch`` is None."""
    return BEST_NAME if epoch is None else f"{EPOCH_PREFIX}{epoch}"


def epoch_of(name):
    """The epoch of a ``model.pth.tar-<epoch>`` file name, or None."""
    match = _EPOCH_FILE.match(name)
    return int(match.group(1)) if match else None


def list_checkpoints(model_folder):
    """Sorted names of the checkpoint files in one model's folder (empty if it does not exist)."""
    if not osp.isdir(model_folder):
        return []
    return sorted(
        name for name in os.listdir(model_folder)
        if name == BEST_NAME or epoch_of(name) is not None
    )


def saved_epochs(model_folder):
    """Sorted epochs N of the ``model.pth.tar-N`` files in one model's folder
    (empty when the folder does not exist)."""
    if not osp.isdir(model_folder):
        return []
    epochs = (epoch_of(name) for name in os.listdir(model_folder))
    return sorted(e for e in epochs if e is not None)
