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


# A full disk, or a full quota on a cluster's shared filesystem.
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _no_space(error):
    """The ``OSError`` of a full disk behind ``error``, or None.

    ``torch.save`` meets it as an ``OSError`` from the file's ``write``, then
    its zip writer fails to close and raises a ``RuntimeError`` ("unexpected
    pos ...") with the ``OSError`` only as its context.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return error
        error = error.__cause__ or error.__context__
    return None


def _write_atomically(fpath, write_fn, mode="wb"):
    try:
        with atomic_write(fpath, mode) as f:
            write_fn(f)
    except (OSError, RuntimeError) as e:
        full = _no_space(e)
        if full is None:
            raise
        raise CheckpointError(
            f'No space left on the device while writing "{fpath}" ({full.strerror or full}). '
            "Nothing was overwritten (the previous checkpoint, if any, is intact). Free some "
            "space and rerun the same command: training resumes from the last complete "
            "checkpoint."
        ) from e


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
        f'Cannot read checkpoint "{fpath}" ({type(error).__name__}: {_first_line(error)}). '
        "The file is probably truncated or not a PyTorch checkpoint; delete it and rerun to "
        "recreate it (or, for a model to evaluate, copy it again from where it was trained)."
    )


def _first_line(error):
    text = str(error)
    if "WeightsUnpickler error:" in text:  # torch's long weights-only message: its reason
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no details"


# torch.load on bytes that are not a checkpoint raises, depending on the first
# bytes, an UnpicklingError, a ValueError ("Expected input to be a checkpoint
# returned by torch.save"), EOFError, struct.error, IndexError, ... or a
# RuntimeError of the zip reader: any of them means the file is unreadable.
# (MemoryError is re-raised as itself.)
_NOT_A_CHECKPOINT = Exception


def load_checkpoint(fpath):
    """Load a checkpoint with ``weights_only=True`` (see the module docstring).

    Raises:
        FileNotFoundError: no file at ``fpath``.
        CheckpointError: the file is truncated, not a checkpoint (e.g. random
            bytes) or carries code objects; the message names the file and
            what to do.
    """
    if not fpath:
        raise ValueError("load_checkpoint() needs a file path, got an empty one")
    if not osp.isfile(fpath):
        raise FileNotFoundError(f'No checkpoint file at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except pickle.UnpicklingError as first_error:
        try:
            allowed, refused = legacy_safe_globals(fpath)
        except _NOT_A_CHECKPOINT as e:
            raise _unreadable(fpath, e) from e
        if refused:
            raise CheckpointError(
                f'Refusing to load "{fpath}": it contains Python objects that would run '
                f"code when loaded ({', '.join(refused)}). Checkpoints of this project "
                "hold only tensors and plain values. Load it only if you trust its "
                "source, e.g. torch.load(path, weights_only=False), and re-save its "
                "state_dict."
            ) from None
        if not allowed:  # nothing unsafe in it, yet unreadable: damaged
            raise _unreadable(fpath, first_error) from first_error
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(fpath, map_location=map_location, weights_only=True)
        except _NOT_A_CHECKPOINT as e:
            raise _unreadable(fpath, e) from e
    except _NOT_A_CHECKPOINT as e:
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


def _check_same_base_lr(saved, optimizer, fpath):
    """Refuse to resume an optimizer whose base learning rate differs from this run's.

    Loading the optimizer's state would silently bring back the old rate (and
    the scheduler's position on its schedule). The base rate is each param
    group's ``initial_lr``, set by every learning-rate scheduler from
    ``OPTIM.LR``.
    """
    saved_lrs = [group.get("initial_lr") for group in saved.get("param_groups", [])]
    lrs = [group.get("initial_lr") for group in optimizer.param_groups]
    if None in saved_lrs or None in lrs or len(saved_lrs) != len(lrs):
        return
    if all(abs(a - b) <= 1e-12 * max(abs(a), abs(b)) for a, b in zip(saved_lrs, lrs)):
        return
    raise CheckpointError(
        f'The checkpoint to resume from, "{fpath}", was trained with a base learning rate '
        f"(OPTIM.LR) of {saved_lrs[0]:g}, but this run asks for {lrs[0]:g}; resuming would "
        "silently keep the old rate. To train with the new one, start from scratch: use "
        "another --output-dir without --resume, or pass --overwrite (scripts: OVERWRITE=1), "
        "which deletes what the folder holds."
    )


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
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        _check_same_base_lr(checkpoint["optimizer"], optimizer, fpath)
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
