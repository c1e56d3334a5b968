"""Running ``python -m enprompt.sweep`` in tests, on a fake DTD and EuroSAT with the tiny CLIP.

* ``SweepRuns(workdir, clip_path, data)``: a :class:`tests.script_helpers.ScriptRuns`
  (the options every run gets) on a copy of ``data``, the ``sweep_data``
  fixture: the fake DTD and EuroSAT made once (the fake images differ from
  one make to the next, so runs compared with each other use copies of one);
  ``sweep(*args, output=...)`` runs the sweep (``--output``, the options after
  ``--``) and returns the ``CompletedProcess``; ``start_sweep`` starts it in a
  process group of its own.
* ``run_records(output)``: ``{run folder relative to output: (status,
  accuracy, checkpoint sha256)}`` of every manifest under ``output``: what
  two ways of running the same jobs must agree on.
* ``EPOCHS``: the epochs of the acceptance sweeps (the smallest that trains).
* ``B2N_SWEEP``: the acceptance sweep's arguments (base2new, dtd and eurosat,
  seeds 1 and 2).
* ``sweep_data``, ``local_sweep``: session fixtures; the second is, that sweep run once with
  ``--executor local --max-parallel 2`` (imported by the test files that
  compare against it).
* ``KILL_SWEEP``, ``KILL_OPTS``: the one-dataset, one-seed sweep that the
  kill tests interrupt (3 epochs: time to kill it after its first checkpoint);
  ``uninterrupted``: a session fixture, its training run by hand to the end
  (``(output root, run folder)``).
* ``holder_pid(run_dir)``: the process that holds a run folder's lock (its
  ``train.py``), or None.
* ``start_kill_sweep(runs, *args)``: starts ``KILL_SWEEP`` with ``args`` (the
  executor), waits for its training's first checkpoint and returns ``(process,
  run folder)``.
* ``assert_uninterrupted_result(output, uninterrupted)``: the training of
  ``KILL_SWEEP`` under ``output`` has the status, accuracy and learned weights
  of the uninterrupted run (the checkpoint files themselves differ: a resumed
  run's holds other bookkeeping).
* ``final_weights(run_dir)``: the learned weights of a finished run (loads torch).

Nothing here loads torch at import.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from enprompt.protocols import STEPS
from tests.child_process import wait_for_checkpoint
from tests.script_helpers import ScriptRuns

__all__ = ["EPOCHS", "B2N_SWEEP", "KILL_SWEEP", "KILL_OPTS", "SweepRuns", "run_records",
           "sweep_data", "local_sweep", "uninterrupted", "holder_pid", "final_weights",
           "start_kill_sweep", "assert_uninterrupted_result"]

EPOCHS = "1"
B2N_SWEEP = ["base2new", "--datasets", "dtd", "eurosat", "--seeds", "1", "2"]
KILL_SWEEP = ["base2new", "--datasets", "dtd", "--seeds", "3"]
KILL_OPTS = ["OPTIM.MAX_EPOCH", "3"]


class SweepRuns(ScriptRuns):
    """The fake data, the tiny CLIP and the sweep's command line (see the module docstring)."""

    def __init__(self, workdir, clip_path, data):
        super().__init__(workdir, clip_path, engine="builtin")
        shutil.rmtree(self.data)
        shutil.copytree(data, self.data)

    def command(self, *args, output=None, opts=()):
        return [sys.executable, "-m", "enprompt.sweep", *args, "--output", output or self.output,
                "--", *self.opts, *opts]

    def sweep(self, *args, output=None, opts=(), timeout=600):
        return subprocess.run(self.command(*args, output=output, opts=opts), cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def start_sweep(self, *args, output=None, opts=()):
        return subprocess.Popen(self.command(*args, output=output, opts=opts), cwd=self.workdir,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)


def run_records(output):
    """See the module docstring; the sweep's own folder (``sweeps/``) is not a run."""
    records = {}
    for folder, dirs, files in os.walk(output):
        dirs[:] = [d for d in dirs if d != "sweeps"]
        if "manifest.json" in files:
            with open(osp.join(folder, "manifest.json")) as f:
                manifest = json.load(f)
            records[osp.relpath(folder, output)] = (
                manifest["status"], (manifest.get("result") or {}).get("accuracy"),
                (manifest.get("checkpoint") or {}).get("sha256"),
            )
    return records


def holder_pid(run_dir):
    """The pid the run folder's lock file names, or None."""
    try:
        with open(osp.join(run_dir, ".lock")) as f:
            return json.loads(f.read() or "{}").get("pid")
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="session")
def sweep_data(tmp_path_factory):
    """The fake DTD and EuroSAT (4 classes, 6 images each) that every SweepRuns copies."""
    from tests.fake_data import make_dtd, make_eurosat

    root = str(tmp_path_factory.mktemp("sweep_data"))
    make_dtd(root, n_classes=4, n_per_class=6, class_dependent=True)
    make_eurosat(root, n_classes=4, n_per_class=6, class_dependent=True)
    return root


@pytest.fixture(scope="session")
def local_sweep(tmp_path_factory, tiny_clip_path, sweep_data):
    """The acceptance sweep run by the local executor: ``(SweepRuns, CompletedProcess)``."""
    runs = SweepRuns(str(tmp_path_factory.mktemp("sweep")), tiny_clip_path, sweep_data)
    process = runs.sweep(*B2N_SWEEP, "--executor", "local", "--max-parallel", "2",
                         opts=["OPTIM.MAX_EPOCH", EPOCHS])
    return runs, process



@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory, tiny_clip_path, sweep_data):
    """The training of ``KILL_SWEEP`` by hand, never interrupted: ``(output, run folder)``."""
    runs = SweepRuns(str(tmp_path_factory.mktemp("uninterrupted")), tiny_clip_path, sweep_data)
    runs.script("base2new_train.sh", "dtd", "3", *KILL_OPTS, check=True)
    return runs.output, STEPS["base2new_train"].run_dir(runs.output, "dtd", seed=3)


def final_weights(run_dir):
    """The learned weights of a finished training run's final checkpoint (loads torch)."""
    import torch

    from enprompt.run import read_manifest

    path = osp.join(run_dir, read_manifest(run_dir)["checkpoint"]["path"])
    return torch.load(path, weights_only=True)["state_dict"]


def start_kill_sweep(runs, *args):
    """Start ``KILL_SWEEP`` (``args``: its executor); return ``(process, run folder of its
    training)`` once that training has saved its first checkpoint."""
    run_dir = STEPS["base2new_train"].run_dir(runs.output, "dtd", seed=3)
    process = runs.start_sweep(*KILL_SWEEP, *args, opts=KILL_OPTS)
    wait_for_checkpoint(process, run_dir)
    return process, run_dir


def assert_uninterrupted_result(output, uninterrupted):
    """The training of ``KILL_SWEEP`` under ``output`` ends as the ``uninterrupted`` one:
    status and accuracy, and the very same learned weights (loads torch)."""
    from tests.comparisons import assert_same

    reference_output, reference = uninterrupted
    train = osp.relpath(reference, reference_output)
    assert run_records(output)[train][:2] == run_records(reference_output)[train][:2]
    assert_same(final_weights(reference), final_weights(osp.join(output, train)))
