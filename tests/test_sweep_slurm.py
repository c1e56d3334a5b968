"""python -m enprompt.sweep --executor slurm against a real Slurm (scripts/slurm/local_cluster.sh).

The acceptance sweep (base-to-novel, fake DTD and EuroSAT, seeds 1 and 2) as
Slurm job arrays gives exactly the runs of the local executor
(``tests.sweep_runs.local_sweep``); a rerun submits nothing. A job cancelled
mid-training (``scancel``) fails the sweep, and the next sweep finishes it to
the uninterrupted result; a job preempted mid-training (Slurm's warning
signal, ``SIGUSR2``) is requeued by submitit and resumes by itself (marked
``slow``: select it with ``-m slow``).

Without ``sbatch`` these tests are skipped, except under ``CI=true``: CI
starts the one-node cluster (.ci/run), so there a missing Slurm is a failure.
"""
import glob
import os
import os.path as osp
import shutil
import subprocess
import time

import pytest

from tests.child_process import assert_succeeded
from tests.sweep_runs import (B2N_SWEEP, EPOCHS, KILL_OPTS, KILL_SWEEP, SweepRuns,  # noqa: F401
                              assert_uninterrupted_result, local_sweep, run_records,
                              start_kill_sweep, sweep_data, uninterrupted)

if shutil.which("sbatch") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but Slurm's sbatch is not on the PATH: .ci/run starts a "
                           "one-node cluster with `bash scripts/slurm/local_cluster.sh --install "
                           "start`; it did not run or failed")
    pytest.skip("Slurm's sbatch is not on the PATH (start a one-node cluster as root with "
                "`bash scripts/slurm/local_cluster.sh --install start`)", allow_module_level=True)

# One CPU and 1 GB per task, so that the local cluster runs two array tasks at once
# (without a memory request a job gets the whole node).
SLURM = ["--executor", "slurm", "--max-parallel", "2", "--gpus-per-job", "0",
         "--slurm-cpus", "1", "--slurm-mem-gb", "1"]


def _queue(name="enprompt-sweep"):
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %T"], capture_output=True,
                         text=True, timeout=60)
    return [line.split() for line in out.stdout.splitlines()]


def _running_job():
    deadline = time.time() + 60
    while time.time() < deadline:
        running = [job for job, state in _queue() if state == "RUNNING"]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError("no running job of the sweep in squeue")


@pytest.fixture(scope="module")
def slurm_sweep(tmp_path_factory, tiny_clip_path, sweep_data):  # noqa: F811
    runs = SweepRuns(str(tmp_path_factory.mktemp("slurm_sweep")), tiny_clip_path, sweep_data)
    first = runs.sweep(*B2N_SWEEP, *SLURM, opts=["OPTIM.MAX_EPOCH", EPOCHS])
    folder = osp.join(runs.output, "sweeps", "base2new", "submitit")
    runs.submitted = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    again = runs.sweep(*B2N_SWEEP, *SLURM, opts=["OPTIM.MAX_EPOCH", EPOCHS])
    runs.submitted_again = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    return runs, first, again


def test_a_slurm_sweep_gives_the_runs_of_the_local_one(slurm_sweep, local_sweep):  # noqa: F811
    runs, first, _ = slurm_sweep
    assert_succeeded(first, "slurm sweep")
    local_runs, local_process = local_sweep
    assert_succeeded(local_process, "local sweep")
    slurm_records = run_records(runs.output)
    assert len(slurm_records) == 8
    assert slurm_records == run_records(local_runs.output)  # accuracies and checkpoint bytes
    assert "Executor: slurm: {'slurm_array_parallelism': 2" in first.stdout
    assert "| DTD |" in first.stdout and "| EuroSAT |" in first.stdout
    assert "sacct" not in first.stdout + first.stderr  # accounting is off: not asked, no warning
    jobs = os.listdir(osp.join(runs.output, "sweeps", "base2new", "submitit"))
    assert any("_" in name for name in jobs)  # array tasks: <array>_<index>


def test_a_slurm_rerun_submits_nothing(slurm_sweep):
    runs, _, again = slurm_sweep
    assert_succeeded(again, "slurm rerun")
    assert again.stdout.startswith("Sweep base2new: 8 job(s): 8 skip\n")
    assert runs.submitted and runs.submitted_again == runs.submitted  # no new Slurm job
    assert "finished base2new" not in again.stderr


def test_a_cancelled_job_is_finished_by_the_next_sweep(tmp_path, tiny_clip_path, sweep_data,  # noqa: F811
                                                       uninterrupted):  # noqa: F811
    runs = SweepRuns(str(tmp_path), tiny_clip_path, sweep_data)
    sweep, run_dir = start_kill_sweep(runs, *SLURM)
    subprocess.run(["scancel", _running_job()], check=True, timeout=60)
    output = sweep.communicate(timeout=300)[0]
    assert sweep.returncode == 1, output
    assert "FAILED   base2new_train-dtd-seed3" in output
    assert "bash scripts/enprompt/base2new_train.sh dtd 3" in output  # the rerun command

    second = runs.sweep(*KILL_SWEEP, *SLURM, opts=KILL_OPTS)
    assert_succeeded(second, "slurm sweep after scancel")
    assert_uninterrupted_result(runs.output, uninterrupted)


@pytest.mark.slow  # about a minute: the stop, the requeue and the resumed run
def test_a_preempted_job_is_requeued_and_resumes(tmp_path, tiny_clip_path, sweep_data,  # noqa: F811
                                                 uninterrupted):  # noqa: F811
    runs = SweepRuns(str(tmp_path), tiny_clip_path, sweep_data)
    sweep, run_dir = start_kill_sweep(runs, *SLURM)
    job = _running_job()
    # What Slurm sends before preempting a job or at its time limit (submitit's --signal).
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=60)
    # Slurm holds a requeued job back for a while (its begin time); let it start now.
    deadline = time.time() + 120
    while dict(_queue()).get(job) != "PENDING":
        assert time.time() < deadline, f"job {job} was not requeued: {_queue()}"
        assert sweep.poll() is None, sweep.stdout.read()
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True,
                   timeout=60)
    output = sweep.communicate(timeout=300)[0]
    assert sweep.returncode == 0, output
    assert "FAILED" not in output
    logs = sorted(glob.glob(osp.join(run_dir, "log.txt*")))
    assert len(logs) == 2  # the first start, and the requeued job's
    with open(logs[1]) as f:
        assert "Previous epoch: " in f.read()  # the requeued job resumed
    assert_uninterrupted_result(runs.output, uninterrupted)
