"""Checkpoint files with Dassl's layout, written atomically and loaded safely.

Layout (as ``dassl.utils.torchtools``)::

    <output_dir>/<model name>/model.pth.tar-<epoch>   # {state_dict, epoch, optimizer,
    <output_dir>/<model name>/model-best.pth.tar      #  scheduler, val_result}
    <output_dir>/<model name>/checkpoint              # text: name of the last file

Differences from Dassl, all invisible to code that reads Dassl checkpoints:

* every file is written through :func:`enprompt.fileio.atomic_write`, so a
  crash (or a full disk) never leaves a truncated checkpoint: the previous one
  survives;
* the trainers also store ``rng_state`` (:mod:`.rng_state`) and ``meta``
  (trainer and backbone names; see :mod:`.checkpoint_mixin`);
* loading uses ``torch.load(weights_only=True)``; checkpoints written by Dassl
  itself are read through :mod:`.legacy_checkpoint`, and a file carrying any
  other Python object is refused.
"""
import collections
import errno
import os.path as osp
import pickle
import shutil

import torch

from enprompt.checkpoint_layout import (
    BEST_NAME,
    EPOCH_PREFIX,
    POINTER_FILE,
    checkpoint_name,
    list_checkpoints,
    saved_epochs,
)
from enprompt.errors import UserError
from enprompt.fileio import atomic_write, mkdir_if_missing

from .legacy_checkpoint import legacy_safe_globals
from .rng_state import set_rng_state

__all__ = [
    "POINTER_FILE",
    "BEST_NAME",
    "EPOCH_PREFIX",
    "CheckpointError",
    "checkpoint_name",
    "list_checkpoints",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "resume_from_checkpoint",
    "load_pretrained_weights",
]


class CheckpointError(UserError, RuntimeError):
    """A checkpoint cannot be written or read; the message says why and what to do."""


def _remove_module_prefix(state_dict):
    return collections.OrderedDict(
        (k[len("module."):] if k.startswith("module.") else k, v) for k, v in state_dict.items()
    )


def _write_atomically(fpath, write_fn, mode="wb"):
    try:
        with atomic_write(fpath, mode) as f:
            write_fn(f)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CheckpointError(
                f'No space left on the device while writing "{fpath}". Nothing was '
                "overwritten (the previous checkpoint, if any, is intact). Free some "
                "space and rerun the same command: training resumes from the last "
                "complete checkpoint."
            ) from e
        raise


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Save ``state`` to ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``).

    Args:
        state (dict): at least ``state_dict`` and ``epoch``.
        save_dir (str): folder of one registered model.
        is_best (bool): also copy the file to ``model-best.pth.tar``.
        remove_module_from_keys (bool): strip ``module.`` (DataParallel) prefixes.
        model_name (str): file name instead of ``model.pth.tar-<epoch>``.

    Returns:
        str: the path written.
    """
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state = dict(state, state_dict=_remove_module_prefix(state["state_dict"]))
    fpath = osp.join(save_dir, model_name or checkpoint_name(state["epoch"]))
    _write_atomically(fpath, lambda f: torch.save(state, f))
    print(f"Checkpoint saved to {fpath}")

    _write_atomically(
        osp.join(save_dir, POINTER_FILE), lambda f: f.write(osp.basename(fpath) + "\n"), mode="w"
    )

    if is_best:
        best_fpath = osp.join(save_dir, BEST_NAME)

        def copy_to(f):
            with open(fpath, "rb") as src:
                shutil.copyfileobj(src, f)

        _write_atomically(best_fpath, copy_to)
        print(f'Best checkpoint saved to "{best_fpath}"')
    return fpath


def _unreadable(fpath, error):
    return CheckpointError(
        f'Cannot read checkpoint "{fpath}" ({error}). The file is probably '
        "truncated or not a PyTorch checkpoint; delete it and rerun to "
        "recreate it."
    )


def load_checkpoint(fpath):
    """Load a checkpoint with ``weights_only=True`` (see the module docstring).

    Raises:
        FileNotFoundError: no file at ``fpath``.
        CheckpointError: the file is truncated/corrupt or carries code objects.
    """
    if not fpath:
        raise ValueError("load_checkpoint() needs a file path, got an empty one")
    if not osp.isfile(fpath):
        raise FileNotFoundError(f'No checkpoint file at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as first_error:
        try:
            allowed, refused = legacy_safe_globals(fpath)
        except (RuntimeError, pickle.UnpicklingError, OSError) as e:
            raise _unreadable(fpath, first_error) from e
        if refused:
            raise CheckpointError(
                f'Refusing to load "{fpath}": it contains Python objects that would run '
                f"code when loaded ({', '.join(refused)}). Checkpoints of this project "
                "hold only tensors and plain values. Load it only if you trust its "
                "source, e.g. torch.load(path, weights_only=False), and re-save its "
                "state_dict."
            ) from None
        with torch.serialization.safe_globals(allowed):
            return torch.load(fpath, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError) as e:
        raise _unreadable(fpath, e) from e


def latest_checkpoint(fdir):
    """Path of the checkpoint to resume from in ``fdir`` (one model's folder), or None.

    The ``model.pth.tar-N`` with the largest N, whatever the ``checkpoint``
    pointer names: a run stopped between writing a model file and its pointer
    leaves a stale pointer to the previous file, and every file here is
    complete (written atomically). Without any ``model.pth.tar-N``, the file
    the pointer names (e.g. ``model-best.pth.tar``), if it exists.
    """
    epochs = saved_epochs(fdir)
    if epochs:
        return osp.join(fdir, checkpoint_name(epochs[-1]))
    pointer = osp.join(fdir, POINTER_FILE)
    if osp.isfile(pointer):
        with open(pointer) as f:
            lines = [line.strip() for line in f if line.strip()]
        if lines and osp.isfile(osp.join(fdir, lines[0])):
            return osp.join(fdir, lines[0])
    return None


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Restore model, optimiser, scheduler and random state from the last checkpoint in ``fdir``.

    Returns:
        int: the epoch to start from (the saved ``epoch``, i.e. epochs done).
    """
    fpath = latest_checkpoint(fdir)
    if fpath is None:
        raise FileNotFoundError(f'No checkpoint to resume from in "{fdir}"')
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    if checkpoint.get("rng_state") is not None:
        set_rng_state(checkpoint["rng_state"])
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model, weight_path):
    """Load matching weights (same name and shape) into ``model``; ignore the rest."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    model_dict = model.state_dict()
    matched, discarded = {}, []
    for key, value in _remove_module_prefix(state_dict).items():
        if key in model_dict and model_dict[key].size() == value.size():
            matched[key] = value
        else:
            discarded.append(key)
    if not matched:
        raise CheckpointError(
            f'No weight in "{weight_path}" matches the model (names or shapes differ). '
            "Check that it was saved from the same architecture."
        )
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    print(f"Successfully loaded pretrained weights from {weight_path}")
    if discarded:
        print(f"Layers discarded due to unmatched keys or size: {discarded}")
