"""What one run folder holds: its result and its state, from its manifest or its logs.

A run folder written by ``train.py`` holds ``manifest.json``
(:mod:`enprompt.run.manifest`): its kind (training or ``--eval-only``),
status, error, result and, for an evaluation, the checkpoint it evaluated.
That is what :func:`read_run` reads. A folder written before manifests
existed is read from its logs instead (:mod:`enprompt.logparse`), as
CoOp's ``parse_test_res.py`` does; its config, status and checkpoint are then
unknown (:attr:`Run.source` is ``"log"``).

The state of a run (:attr:`Run.state`) is one of :data:`STATES`:

=============  ==============================================================
``finished``   a finished result: it enters the tables
``partial``    an evaluation of a checkpoint that is not a finished model's
               final one (``--load-epoch N`` / ``LOADEP=N``): shown apart
``failed``     stopped on an error (the manifest's error line)
``interrupted``  stopped by Ctrl-C or SIGTERM (the manifest's notice)
``running``    still running, or killed before it could record why
``unreadable`` its manifest is damaged
``unfinished`` no manifest, and logs without a finished result
``missing``    never run, or no result to read
=============  ==============================================================

:mod:`enprompt.results.checks` adds ``mixed``: a finished result that does not
belong with the others of its table cell.
"""
import os.path as osp
from collections import namedtuple

from enprompt.logparse import describe_missing, find_result, list_logs
from enprompt.run.identity import SEED_KEY
from enprompt.run.manifest import ManifestError, manifest_path, read_manifest

__all__ = ["STATES", "PROBLEM_STATES", "Problem", "Run", "read_run", "metric_name", "short_id"]

STATES = ("finished", "partial", "failed", "interrupted", "running", "unreadable",
          "unfinished", "missing")
# The states of runs kept out of a table, in the order the tables list them.
PROBLEM_STATES = ("mixed", "failed", "interrupted", "running", "partial", "unreadable",
                  "unfinished", "missing")

# A run kept out of a table: its folder, its state (one of PROBLEM_STATES), why.
Problem = namedtuple("Problem", ["run_dir", "state", "reason"])

# The ``=> result`` block prints "* error: ..."; Dassl's evaluator returns it as error_rate.
_MANIFEST_METRIC = {"error": "error_rate"}


def metric_name(keyword):
    """The key of a manifest's ``result`` for a metric of the log's ``=> result`` block."""
    return _MANIFEST_METRIC.get(keyword, keyword)


def short_id(value, n=8):
    """The first ``n`` characters of a run id or SHA256 (``?`` when unknown)."""
    return str(value)[:n] if value else "?"


class Run:
    """One run folder and what it holds.

    Attributes:
        run_dir (str): the folder (``.../seed1``).
        seed (int or None): the seed its folder name says.
        manifest (dict or None): its manifest (None: none, or unreadable).
        source (str or None): ``"manifest"`` or ``"log"``: where the result
            and state were read; None when there is neither.
        state (str): one of :data:`STATES` (``mixed`` once checked).
        value (float or None): the metric (also kept for a partial result).
        file (str or None): the file the value was read from.
        reason (str): for a run whose value is not in a table, why, in one line.
    """

    def __init__(self, run_dir, seed=None, manifest=None, source=None, state="missing",
                 value=None, file=None, reason=""):
        self.run_dir = run_dir
        self.seed = seed
        self.manifest = manifest
        self.source = source
        self.state = state
        self.value = value
        self.file = file
        self.reason = reason

    def __repr__(self):
        return f"Run({self.run_dir!r}, state={self.state!r}, value={self.value!r})"

    @property
    def ok(self):
        """A finished result that may enter a table."""
        return self.state == "finished" and self.value is not None

    @property
    def kind(self):
        """``"train"`` or ``"eval"`` from the manifest, None without one."""
        return self.manifest["kind"] if self.manifest else None

    @property
    def keys(self):
        """The manifest's identity keys (``{"OPTIM.MAX_EPOCH": 5, ...}``), {} without one."""
        return self.manifest["identity"]["keys"] if self.manifest else {}

    @property
    def experiment_hash(self):
        """The identity hash without SEED (the same for every seed of one experiment)."""
        return self.manifest["identity"].get("experiment_hash") if self.manifest else None

    @property
    def manifest_seed(self):
        """The SEED the manifest records (None without one)."""
        return self.keys.get(SEED_KEY)

    @property
    def run_id(self):
        return self.manifest.get("run_id") if self.manifest else None

    @property
    def checkpoint(self):
        """A training run's final checkpoint ``{"path", "epoch", "sha256"}``, or {}."""
        return (self.manifest or {}).get("checkpoint") or {}

    @property
    def evaluated(self):
        """An evaluation's ``{"model_dir", "epoch", "sha256", "model_run_id", ...}``, or {}."""
        return (self.manifest or {}).get("evaluated") or {}

    def problem(self):
        """This run as a :class:`Problem` (for a run kept out of the tables)."""
        return Problem(self.run_dir, self.state, self.reason)

    def reject(self, state, reason):
        """Keep this run out of the tables as ``state``, with ``reason``."""
        self.state = state
        self.reason = reason
        return self


def _epochs_text(manifest):
    epochs = manifest.get("epochs") or {}
    if epochs.get("done") is None or epochs.get("max") is None:
        return ""
    return f"; {epochs['done']} of {epochs['max']} epochs done"


def _rerun_hint(manifest):
    if manifest["kind"] == "eval":
        return "rerun the same command (or test script) to evaluate again"
    epochs = manifest.get("epochs") or {}
    if epochs.get("done"):
        return f"rerun the same command (or script) to resume from epoch {epochs['done'] + 1}"
    return "rerun the same command (or script) to start it again"


def _partial_reason(manifest, value):
    evaluated = manifest.get("evaluated") or {}
    status = evaluated.get("model_status")
    if status == "finished":
        model = "not the final checkpoint of its finished model"
        fix = "Rerun the test script without LOADEP to evaluate the final checkpoint"
    else:
        model = f"a checkpoint of a model whose training is {status or 'unfinished'}"
        fix = "Finish the training, then rerun the test script without LOADEP"
    return (
        f"partial result {value:.2f}%: epoch {evaluated.get('epoch')} ({model}), evaluated on "
        f"request (--load-epoch / LOADEP); not averaged. {fix}"
    )


def _from_manifest(run, manifest, keyword):
    run.manifest = manifest
    run.source = "manifest"
    status = manifest["status"]
    if status == "failed":
        error = manifest.get("error") or "no error recorded"
        if "rerun" not in error:  # the message of a user's error says how to go on
            error += f" (fix it, then {_rerun_hint(manifest)})"
        return run.reject("failed", f"failed: {error}")
    if status == "interrupted":
        notice = manifest.get("error") or "no notice recorded"
        if "rerun the same command" not in notice:
            notice += f"{_epochs_text(manifest)}; {_rerun_hint(manifest)}"
        return run.reject("interrupted", f"interrupted: {notice}")
    if status == "running":
        return run.reject(
            "running",
            f"running since {manifest.get('started')}, or killed before it could record why "
            f"(no result yet{_epochs_text(manifest)}); once no process works in the folder, "
            f"{_rerun_hint(manifest)}",
        )
    # finished
    result = manifest.get("result") or {}
    name = metric_name(keyword)
    value, file = result.get(name), manifest_path(run.run_dir)
    if value is None:  # a metric the manifest does not keep: the run's own log has it
        found = find_result(run.run_dir, keyword, test_log=manifest["kind"] == "eval")
        if found is None:
            have = ", ".join(sorted(result)) or "nothing"
            return run.reject("missing", f"finished, but its result has no {keyword!r} "
                                         f"(it has {have})")
        value, file = found.value, found.log
    run.value, run.file = float(value), file
    if manifest["kind"] == "eval" and manifest.get("partial"):
        return run.reject("partial", _partial_reason(manifest, run.value))
    run.state = "finished"
    return run


def _from_logs(run, keyword, test_log):
    found = find_result(run.run_dir, keyword, test_log)
    if found is not None:
        run.source, run.state, run.value, run.file = "log", "finished", found.value, found.log
        return run
    reason = describe_missing(run.run_dir, test_log)
    if not list_logs(run.run_dir):
        return run.reject("missing", reason)
    run.source = "log"
    if not test_log and find_result(run.run_dir, keyword, test_log=True) is not None:
        return run.reject("missing", reason)  # an --eval-only log read as a training log
    return run.reject("unfinished", reason)


def read_run(run_dir, keyword="accuracy", test_log=False, seed=None):
    """Read one run folder: its manifest when it has one, else its logs.

    Args:
        run_dir (str): the run folder.
        keyword (str): the metric (``accuracy``, ``error``, ``macro_f1``).
        test_log (bool): for a folder without manifest, its logs are
            ``--eval-only`` logs (a manifest says which kind of run it is).
        seed (int or None): the seed the folder's name says.

    Returns:
        Run
    """
    run = Run(run_dir, seed)
    try:
        manifest = read_manifest(run_dir) if osp.isdir(run_dir) else None
    except ManifestError as e:
        return run.reject("unreadable", str(e))
    if manifest is not None:
        return _from_manifest(run, manifest, keyword)
    return _from_logs(run, keyword, test_log)
