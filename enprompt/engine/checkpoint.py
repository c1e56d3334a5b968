"""Checkpoints with Dassl's file layout, written atomically and loaded safely.

Layout (as ``dassl.utils.torchtools``)::

    <output_dir>/<model name>/model.pth.tar-<epoch>   # {state_dict, epoch, optimizer,
    <output_dir>/<model name>/model-best.pth.tar      #  scheduler, val_result}
    <output_dir>/<model name>/checkpoint              # text: name of the last file

Differences from Dassl, all invisible to code that reads Dassl checkpoints:

* every file is written to a temporary file and renamed, so a crash (or a
  full disk) never leaves a truncated checkpoint: the previous one survives;
* checkpoints also hold ``rng_state`` (Python, NumPy, torch, CUDA), so a
  resumed run continues with the random stream of an uninterrupted one, and
  ``meta`` (trainer and backbone names), so a checkpoint of another trainer or
  backbone is refused by name rather than loaded by accident;
* loading uses ``torch.load(weights_only=True)``. Checkpoints written by
  Dassl itself store the warm-up scheduler's successor *object*; the few
  torch optimiser/scheduler classes that appear there are read as inert
  records (no code runs). Any other object is refused with a clear error.
"""
import collections
import errno
import os
import os.path as osp
import pickle
import random
import shutil

import numpy as np
import torch

from enprompt.fileio import atomic_write, mkdir_if_missing

__all__ = [
    "CheckpointError",
    "CheckpointIO",
    "save_checkpoint",
    "load_checkpoint",
    "resume_from_checkpoint",
    "load_pretrained_weights",
    "count_num_param",
    "latest_checkpoint",
    "get_rng_state",
    "set_rng_state",
]

POINTER_FILE = "checkpoint"
BEST_NAME = "model-best.pth.tar"
EPOCH_PREFIX = "model.pth.tar-"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or read; the message says why and what to do."""


class LegacyObject:
    """Inert stand-in for an object pickled inside a Dassl-written checkpoint.

    Only its recorded attributes are kept (``state``); no code of the original
    class runs. Used for the optimiser/scheduler objects that Dassl's warm-up
    schedulers store in their state dict.
    """

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"LegacyObject({sorted(self.state) if isinstance(self.state, dict) else '?'})"


# Globals that Dassl-written checkpoints contain besides tensors: the
# successor scheduler of ConstantWarmupScheduler/LinearWarmupScheduler and the
# optimiser it references. They are mapped to LegacyObject.
_LEGACY_OBJECT_PREFIXES = ("torch.optim.", "dassl.optim.")
_HARMLESS_GLOBALS = {
    "collections.defaultdict": collections.defaultdict,
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.dict": dict,
    "builtins.list": list,
    "builtins.set": set,
    "builtins.tuple": tuple,
}


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
    fpath = osp.join(save_dir, model_name or f"{EPOCH_PREFIX}{state['epoch']}")
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


def _legacy_globals(fpath):
    """Return the safe-globals list needed for a Dassl-written file, or raise."""
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(fpath)
    allowed, refused = [], []
    for name in unsafe:
        if name in _HARMLESS_GLOBALS:
            allowed.append(_HARMLESS_GLOBALS[name])
        elif name.startswith(_LEGACY_OBJECT_PREFIXES):
            allowed.append((LegacyObject, name))
        else:
            refused.append(name)
    if refused:
        raise CheckpointError(
            f'Refusing to load "{fpath}": it contains Python objects that would run '
            f"code when loaded ({', '.join(refused)}). Checkpoints of this project "
            "hold only tensors and plain values. Load it only if you trust its "
            "source, e.g. torch.load(path, weights_only=False), and re-save its "
            "state_dict."
        )
    return allowed


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
            safe = _legacy_globals(fpath)
        except (RuntimeError, pickle.UnpicklingError, OSError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(
                f'Cannot read checkpoint "{fpath}" ({first_error}). The file is '
                "probably truncated or not a PyTorch checkpoint; delete it and "
                "rerun to recreate it."
            ) from e
        with torch.serialization.safe_globals(safe):
            return torch.load(fpath, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(
            f'Cannot read checkpoint "{fpath}" ({e}). The file is probably '
            "truncated or not a PyTorch checkpoint; delete it and rerun to "
            "recreate it."
        ) from e


def latest_checkpoint(fdir):
    """Path of the checkpoint to resume from in ``fdir`` (one model's folder), or None.

    The ``checkpoint`` pointer file wins when it names an existing file;
    otherwise (a run killed between writing a model file and its pointer) the
    ``model.pth.tar-N`` with the largest N is used.
    """
    pointer = osp.join(fdir, POINTER_FILE)
    if osp.isfile(pointer):
        with open(pointer) as f:
            lines = [line.strip() for line in f if line.strip()]
        if lines and osp.isfile(osp.join(fdir, lines[0])):
            return osp.join(fdir, lines[0])
    if not osp.isdir(fdir):
        return None
    epochs = [
        int(name[len(EPOCH_PREFIX):])
        for name in os.listdir(fdir)
        if name.startswith(EPOCH_PREFIX) and name[len(EPOCH_PREFIX):].isdigit()
    ]
    return osp.join(fdir, f"{EPOCH_PREFIX}{max(epochs)}") if epochs else None


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Restore model, optimiser and scheduler from the last checkpoint in ``fdir``.

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


def count_num_param(model=None, params=None):
    """Number of parameters of ``model`` (or of an iterable of tensors/param groups)."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is not None:
        total = 0
        for p in params:
            if isinstance(p, dict):
                total += sum(q.numel() for q in p["params"]) if isinstance(
                    p["params"], (list, tuple)) else p["params"].numel()
            else:
                total += p.numel()
        return total
    raise ValueError("count_num_param() needs a model or params")


def get_rng_state():
    """All random states that influence training, as weights-only-loadable values."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state((
        "MT19937",
        np_state["keys"].numpy().astype(np.uint32),
        np_state["pos"],
        np_state["has_gauss"],
        np_state["cached_gaussian"],
    ))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


class CheckpointIO:
    """Trainer methods that save and resume registered models (Dassl's names),
    and stop a diverging run without overwriting its last good checkpoint.

    Mixed into the built-in ``TrainerBase`` and, when the real Dassl is used,
    into its ``TrainerX`` (see :mod:`enprompt.dassl`), so both write the same
    atomic, weights-only-loadable files.
    """

    def checkpoint_meta(self):
        """What produced a checkpoint: trainer and backbone names (checked when loading)."""
        return {"trainer": self.cfg.TRAINER.NAME, "backbone": self.cfg.MODEL.BACKBONE.NAME}

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        rng_state = get_rng_state()
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            save_checkpoint(
                {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epoch + 1,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                    "rng_state": rng_state,
                    "meta": self.checkpoint_meta(),
                },
                osp.join(directory, name),
                is_best=is_best,
                model_name=model_name,
            )

    def resume_model_if_exist(self, directory):
        names = self.get_model_names()
        if any(latest_checkpoint(osp.join(directory, name)) is None for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name],
                self._scheds[name],
            )
        self._resume_point_epoch = start_epoch
        return start_epoch

    def _keeps_checkpoint(self, epoch):
        """Whether Dassl would keep ``model.pth.tar-<epoch>`` (1-based epoch)."""
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        return epoch == self.max_epoch or (freq > 0 and epoch % freq == 0)

    def save_epoch_checkpoint(self):
        """Save the epoch just finished; keep exactly the files Dassl keeps.

        Dassl saves only every ``TRAIN.CHECKPOINT_FREQ`` epochs and the last
        one, so a run killed in between restarts from scratch. Here every
        epoch is saved as a resume point, and the previous resume point is
        deleted once the new one is complete, unless Dassl would have kept it.
        A finished run's folder therefore holds the same files as with Dassl,
        and a killed run resumes from its last complete epoch.
        """
        done = self.epoch + 1
        self.save_model(self.epoch, self.output_dir)
        previous = getattr(self, "_resume_point_epoch", None)
        if previous and previous != done and not self._keeps_checkpoint(previous):
            for name in self.get_model_names():
                stale = osp.join(self.output_dir, name, f"{EPOCH_PREFIX}{previous}")
                if osp.isfile(stale):
                    os.remove(stale)
        self._resume_point_epoch = done

    def detect_anomaly(self, loss, terms=None):
        """Raise ``FloatingPointError`` if ``loss`` is NaN or infinite.

        The message names the epoch, the batch, each loss term in ``terms``
        ({name: tensor or float}) and the last good checkpoint, which is left
        untouched (nothing is saved after a non-finite loss).
        """
        if torch.isfinite(loss).all():
            return
        where = ""
        if hasattr(self, "batch_idx") and hasattr(self, "num_batches"):
            where = (f" at epoch {self.epoch + 1}/{self.max_epoch}, "
                     f"batch {self.batch_idx + 1}/{self.num_batches}")
        values = ", ".join(
            f"{name} = {float(torch.as_tensor(value).detach()):.4g}"
            for name, value in (terms or {"loss": loss}).items()
        )
        last = None
        if getattr(self, "output_dir", None):
            for name in self.get_model_names():
                last = latest_checkpoint(osp.join(self.output_dir, name)) or last
        kept = (f'The last good checkpoint, "{last}", is kept; rerunning the same command '
                "resumes from it." if last else "No checkpoint had been written yet.")
        raise FloatingPointError(
            f"Loss is infinite or NaN{where} ({values}). {kept} Try a lower OPTIM.LR "
            "or a more stable precision (TRAINER.ENPROMPT.PREC fp32 or amp)."
        )
