"""The run manifest: one small JSON record per run folder, ``<run>/manifest.json``.

``train.py`` writes it atomically when a run starts and updates it when the
run ends, so every number in a table can be traced to the run, config,
weights, data and code that made it. Fields (``null`` where unknown)::

    format        "enprompt-run/1"
    run_id        random id of this run; kept when the run resumes
    kind          "train" (training, ending with its test) or "eval" (--eval-only)
    status        "running", "finished", "interrupted" or "failed"
    error         first line of the error (failed) or of the interruption notice
    partial       eval only: true when the evaluated checkpoint is not the final
                  checkpoint of a finished training run (an explicit --load-epoch)
    identity      {"hash", "experiment_hash", "keys"}: see enprompt.run.identity
    config        the full resolved config, as YAML text (what train.py printed)
    trainer, backbone, dataset
    classnames    the class list of the run (label order)
    data          {"split_file": {"path", "sha256"} or null,
                   "fewshot_file": {"path", "sha256"} or null}
    environment   engine, package versions, git commit, host (enprompt.run.provenance),
                  world_size (the processes of a data-parallel run; 1 for one process)
    command       the command line (sys.argv)
    started, ended    ISO 8601 times (UTC)
    epochs        {"done": N, "max": E} of the training (train) when it ended
    result        {"accuracy", "error_rate", "macro_f1", ...} of the final test, or null
    checkpoint    train: the final checkpoint {"path" (relative to the run), "epoch", "sha256"}
    evaluated     eval: {"model_dir", "checkpoint", "epoch", "sha256",
                   "model_run_id", "model_identity_hash", "model_status"}

Readers must accept unknown fields (later versions may add some).
"""
import datetime
import json
import os.path as osp
import uuid

from enprompt.errors import UserError
from enprompt.fileio import atomic_write

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_FORMAT",
    "STATUSES",
    "ManifestError",
    "manifest_path",
    "read_manifest",
    "write_manifest",
    "new_manifest",
    "utc_now",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "enprompt-run/1"
STATUSES = ("running", "finished", "interrupted", "failed")
KINDS = ("train", "eval")


class ManifestError(UserError, ValueError):
    """A manifest exists but cannot be used; the message names the file and the fix."""


def manifest_path(run_dir):
    """``<run_dir>/manifest.json``."""
    return osp.join(run_dir, MANIFEST_NAME)


def utc_now():
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _broken(path, what):
    return ManifestError(
        f'The run manifest "{path}" {what}. It records which experiment the folder holds, '
        "so the folder cannot be skipped or resumed safely. If you know what the folder "
        "holds, delete the manifest to treat the folder as one written before manifests "
        "existed; otherwise use another output folder."
    )


def read_manifest(run_dir):
    """The manifest of ``run_dir`` as a dict, or None if there is none.

    Raises:
        ManifestError: the file exists but is not a manifest of this format.
    """
    path = manifest_path(run_dir)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise _broken(path, f"cannot be read ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise _broken(path, f"has format {found!r}, expected {MANIFEST_FORMAT!r}")
    for key in ("run_id", "kind", "status", "identity"):
        if key not in manifest:
            raise _broken(path, f'has no "{key}"')
    if manifest["kind"] not in KINDS or manifest["status"] not in STATUSES:
        raise _broken(path, f"has kind {manifest['kind']!r} / status {manifest['status']!r}")
    identity = manifest["identity"]
    if not (isinstance(identity, dict) and isinstance(identity.get("keys"), dict)
            and isinstance(identity.get("hash"), str)):
        raise _broken(path, "has no valid identity")
    return manifest


def write_manifest(run_dir, manifest):
    """Write ``manifest`` to ``run_dir`` atomically (readers never see half a file)."""
    with atomic_write(manifest_path(run_dir), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=False)
        f.write("\n")


def new_manifest(kind, identity, **fields):
    """A ``running`` manifest of a new run; ``fields`` fill the other keys.

    Args:
        kind (str): "train" or "eval".
        identity (Identity): see :func:`enprompt.run.identity.run_identity`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    manifest = {
        "format": MANIFEST_FORMAT,
        "run_id": uuid.uuid4().hex,
        "kind": kind,
        "status": "running",
        "error": None,
        "partial": False,
        "identity": {
            "hash": identity.hash,
            "experiment_hash": identity.experiment_hash,
            "keys": identity.keys,
        },
        "config": None,
        "trainer": None,
        "backbone": None,
        "dataset": None,
        "classnames": None,
        "data": {"split_file": None, "fewshot_file": None},
        "environment": None,
        "command": None,
        "started": utc_now(),
        "ended": None,
        "epochs": None,
        "result": None,
        "checkpoint": None,
        "evaluated": None,
    }
    unknown = set(fields) - set(manifest)
    if unknown:
        raise KeyError(f"unknown manifest field(s) {sorted(unknown)}")
    manifest.update(fields)
    return manifest
