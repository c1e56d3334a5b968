"""The state of a run folder: its manifest, its identity, its lock, and what a rerun may do.

Plain Python (no torch), used by ``train.py`` before any heavy import, by
``enprompt.results`` to build tables only from finished runs of one known
config, and by the sweep to plan what is left to run.

* :mod:`~enprompt.run.identity`: the config keys that change results, and their hash;
* :mod:`~enprompt.run.manifest`: ``<run>/manifest.json``, written at start and end;
* :mod:`~enprompt.run.provenance`: file hashes, CLIP weights, versions, git commit;
* :mod:`~enprompt.run.lock`: one process per run folder;
* :mod:`~enprompt.run.decision`: skip, resume, start or refuse;
* :mod:`~enprompt.run.session`: one run in its folder, from the decision to the final manifest;
* :mod:`~enprompt.run.interrupt`: Ctrl-C and SIGTERM as one clean stop.
"""
from .decision import OVERWRITE_HINT, Decision, ModelState, RunConflict, decide_eval, decide_train
from .identity import RESULT_NEUTRAL_KEYS, Identity, diff_keys, format_diff, run_identity
from .lock import RunFolderBusy, RunFolderLock
from .session import RunSession, StoppedByMainProcess
from .manifest import (
    MANIFEST_NAME,
    ManifestError,
    new_manifest,
    read_manifest,
    utc_now,
    write_manifest,
)

__all__ = [
    "Decision",
    "Identity",
    "MANIFEST_NAME",
    "ManifestError",
    "ModelState",
    "OVERWRITE_HINT",
    "RESULT_NEUTRAL_KEYS",
    "RunConflict",
    "RunFolderBusy",
    "RunFolderLock",
    "RunSession",
    "StoppedByMainProcess",
    "decide_eval",
    "decide_train",
    "diff_keys",
    "format_diff",
    "new_manifest",
    "read_manifest",
    "run_identity",
    "utc_now",
    "write_manifest",
]
