"""The identity of an experiment: the config keys that change its results, and their hash.

Two runs are *the same experiment* when every key that can change a number
they report has the same value. The identity is the resolved config,
flattened to ``{"OPTIM.LR": 0.0035, ...}``, minus the keys listed in
:data:`RESULT_NEUTRAL_KEYS`, plus the SHA256 of the CLIP weights (the
weights file's path is neutral, its content is not). Its hash decides
whether a run folder may be skipped, resumed, or must be refused
(:mod:`enprompt.run.decision`).

A data-parallel training run (N > 1 processes) adds two pseudo-keys,
``DDP.WORLD_SIZE`` (N) and ``DDP.GLOBAL_BATCH_SIZE`` (N times the per-process
``DATALOADER.TRAIN_X.BATCH_SIZE``): it trains on another batch and another
sample order than one process with the same config, so it is another
experiment, and it resumes only with the same number of processes. One
process has neither key, so its identity is what it always was. An
evaluation gives the same result on any number of processes; its identity has
neither key either.

``experiment_hash`` is the same hash without ``SEED``: the seeds of one table
cell share it, so a table can refuse to average seeds of different
experiments.

Two refinements keep the identity about what a run really uses:

* a key group that only some runs read counts only for them
  (:data:`CONDITIONAL_KEYS`: the image-folder keys, for ``ImageFolder`` runs);
* a key the project gained after a run was recorded is not a difference when
  the request leaves it at its default (:func:`experiment_diff`): the older
  run used what is now the default, so its folder is still skipped or resumed.

Everything here is plain Python (no torch), so the decision is made before
any heavy import.
"""
import hashlib
import json
from collections import namedtuple

__all__ = [
    "RESULT_NEUTRAL_KEYS",
    "CLIP_SHA256_KEY",
    "SEED_KEY",
    "WORLD_SIZE_KEY",
    "GLOBAL_BATCH_KEY",
    "Identity",
    "flatten_cfg",
    "run_identity",
    "identity_from_keys",
    "result_keys",
    "default_result_keys",
    "diff_keys",
    "experiment_diff",
    "format_diff",
]

# Keys that do not change any result of a run, with why. Everything else in
# the resolved config is part of the identity.
RESULT_NEUTRAL_KEYS = {
    "OUTPUT_DIR": "where the run is written",
    "RESUME": "where a run resumes from",
    "VERBOSE": "how much is printed",
    "USE_CUDA": "the device (recorded in the manifest's environment)",
    "DATASET.ROOT": "where the data lies (its split files are hashed instead)",
    "DATALOADER.NUM_WORKERS": "loader processes",
    "DATALOADER.TEST.BATCH_SIZE": "evaluation batch size (predictions do not depend on it)",
    "TRAIN.PRINT_FREQ": "how often the loss is printed",
    "TRAIN.CHECKPOINT_FREQ": "which intermediate checkpoints are kept",
    "TEST.PER_CLASS_RESULT": "extra lines in the log",
    "TEST.COMPUTE_CMAT": "an extra confusion-matrix file",
    "TRAINER.ENPROMPT.CLIP_WEIGHTS": "the weights file's path (its SHA256 is part of the identity)",
    "TRAINER.ENPROMPT.COMPILE": "torch.compile (none, encoder or step) of the same computation",
}

# Key groups (by prefix) that count only when another key has a given value:
# prefix -> (key, value). Other runs do not read them.
CONDITIONAL_KEYS = {
    "DATASET.IMAGE_FOLDER.": ("DATASET.NAME", "ImageFolder"),
}

# Pseudo-key of the identity holding the CLIP weights' content hash.
CLIP_SHA256_KEY = "CLIP.WEIGHTS_SHA256"
SEED_KEY = "SEED"
# Pseudo-keys of a data-parallel training run (absent for one process).
WORLD_SIZE_KEY = "DDP.WORLD_SIZE"
GLOBAL_BATCH_KEY = "DDP.GLOBAL_BATCH_SIZE"

# hash: sha256 of the canonical JSON of ``keys``; experiment_hash: the same
# without SEED; keys: {flattened key: JSON value}.
Identity = namedtuple("Identity", ["hash", "experiment_hash", "keys"])


def _json_value(value):
    # yacs stores tuples and lists; both are lists in JSON.
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


def flatten_cfg(cfg, prefix=""):
    """``{"GROUP.KEY": value}`` of a yacs ``CfgNode`` (or nested dicts), sorted by key."""
    flat = {}
    for key in sorted(cfg):
        value = cfg[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict):  # CfgNode is a dict
            flat.update(flatten_cfg(value, name + "."))
        else:
            flat[name] = _json_value(value)
    return flat


def _digest(keys):
    text = json.dumps(keys, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity_from_keys(keys):
    """The :class:`Identity` of a ``{key: value}`` mapping (e.g. read from a manifest)."""
    keys = dict(sorted(keys.items()))
    without_seed = {k: v for k, v in keys.items() if k != SEED_KEY}
    return Identity(_digest(keys), _digest(without_seed), keys)


def result_keys(cfg):
    """``{key: value}`` of the config keys that can change a result of the run ``cfg``
    describes: all flattened keys but the neutral ones and the inactive conditional groups."""
    flat = flatten_cfg(cfg)
    inactive = [prefix for prefix, (key, value) in CONDITIONAL_KEYS.items()
                if flat.get(key) != value]
    return {
        k: v for k, v in flat.items()
        if k not in RESULT_NEUTRAL_KEYS and not any(k.startswith(p) for p in inactive)
    }


def default_result_keys():
    """The :func:`result_keys` of the default config (the engine's defaults and this
    project's keys), against which :func:`experiment_diff` forgives a key that a stored
    run predates."""
    from enprompt.config import add_enprompt_config
    from enprompt.engine_choice import get_cfg_default

    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    return result_keys(cfg)


def run_identity(cfg, clip_sha256, world_size=1):
    """The identity of the run a resolved config describes.

    Args:
        cfg (CfgNode): the final (merged) config.
        clip_sha256 (str or None): SHA256 of the CLIP weights the run uses
            (None for a trainer without CLIP).
        world_size (int): the processes of a training run (1 for an evaluation,
            whose result does not depend on it).

    Returns:
        Identity
    """
    keys = result_keys(cfg)
    keys[CLIP_SHA256_KEY] = clip_sha256
    if world_size > 1:
        keys[WORLD_SIZE_KEY] = int(world_size)
        keys[GLOBAL_BATCH_KEY] = int(world_size) * int(cfg.DATALOADER.TRAIN_X.BATCH_SIZE)
    return identity_from_keys(keys)


_MISSING = object()


def diff_keys(stored, requested):
    """``[(key, stored value, requested value)]`` of the keys that differ, sorted.

    A key present on one side only appears with ``None`` (shown as "(absent)")
    on the other.
    """
    names = sorted(set(stored) | set(requested))
    return [
        (k, stored.get(k, _MISSING), requested.get(k, _MISSING))
        for k in names
        if stored.get(k, _MISSING) != requested.get(k, _MISSING)
    ]


def experiment_diff(stored, requested, defaults=None):
    """:func:`diff_keys` of two identities' keys, less the keys the stored run
    predates: absent from ``stored`` and, in ``requested``, equal to their value
    in ``defaults`` (``{key: default}``, e.g. :func:`result_keys` of the default
    config). An empty list means the same experiment."""
    defaults = defaults or {}
    return [
        (key, old, new) for key, old, new in diff_keys(stored, requested)
        if not (old is _MISSING and key in defaults and defaults[key] == new)
    ]


def _show(value):
    return "(absent)" if value is _MISSING else repr(value)


def format_diff(diff, stored_name="in the folder", requested_name="requested"):
    """One line per differing key: ``KEY: <stored> (in the folder) vs <requested> (requested)``."""
    return [
        f"{key}: {_show(old)} ({stored_name}) vs {_show(new)} ({requested_name})"
        for key, old, new in diff
    ]
