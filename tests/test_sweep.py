"""python -m enprompt.sweep with the local executor: the plan, a whole sweep, reruns, a killed job.

A base-to-novel sweep over the fake DTD and EuroSAT, seeds 1 and 2 (8 jobs,
one epoch, tiny CLIP), is run once (``tests.sweep_runs.local_sweep``, shared
with the Slurm tests) and then rerun: as is (nothing is submitted), and with
one run's folder deleted (only that job runs). Its runs equal the scripts run
by hand. A job killed mid-training (SIGKILL) fails the sweep with its log and
the command that reruns it, and the next sweep finishes it to the result of
an uninterrupted run.
"""
import os
import os.path as osp
import shutil
import signal

import pytest

from enprompt.protocols import STEPS
from tests.child_process import assert_succeeded, modules_loaded_by
from tests.sweep_runs import (B2N_SWEEP, EPOCHS, KILL_OPTS, KILL_SWEEP, SweepRuns,  # noqa: F401
                              assert_uninterrupted_result, holder_pid, local_sweep, run_records,
                              start_kill_sweep, sweep_data, uninterrupted)

B2N_RUNS = 8  # 2 datasets x 2 seeds x (train, test)


def test_dry_run_prints_each_job_its_command_and_writes_nothing(tmp_path, tiny_clip_path,
                                                                sweep_data):  # noqa: F811
    runs = SweepRuns(str(tmp_path), tiny_clip_path, sweep_data)
    done = runs.sweep("base2new", "--datasets", "dtd", "--seeds", "1", "3", "--dry-run")
    assert_succeeded(done, "sweep --dry-run")
    lines = done.stdout.splitlines()
    assert lines[0] == "Sweep base2new: 4 job(s): 4 to run"
    opts = " ".join(runs.opts)
    for seed in (1, 3):
        train = lines.index(f"  [run] base2new_train-dtd-seed{seed}: new")
        test = lines.index(f"  [run] base2new_test-dtd-seed{seed}: after base2new_train-dtd-seed{seed}")
        assert train < test  # a test after its training
        assert lines[train + 1] == f"      bash scripts/enprompt/base2new_train.sh dtd {seed} {opts}"
        assert lines[test + 1] == f"      bash scripts/enprompt/base2new_test.sh dtd {seed} {opts}"
    assert not osp.exists(runs.output)

    # xd: the ImageNet training of each seed first, then its targets; dg the same runs.
    dg = runs.sweep("dg", "--seeds", "2", "--dry-run")
    assert_succeeded(dg, "sweep dg --dry-run")
    names = [line.split("]")[1].split(":")[0].strip() for line in dg.stdout.splitlines()
             if line.startswith("  [")]
    assert names == ["xd_train-imagenet-seed2", "xd_test-imagenetv2-seed2",
                     "xd_test-imagenet_sketch-seed2", "xd_test-imagenet_a-seed2",
                     "xd_test-imagenet_r-seed2"]
    assert "bash scripts/enprompt/xd_test.sh imagenet_a 2" in dg.stdout
    few = runs.sweep("few_shot", "--datasets", "dtd", "--shots", "1", "4", "--dry-run")
    assert few.stdout.startswith("Sweep few_shot: 6 job(s): 6 to run\n")  # 2 shots x 3 seeds
    assert "bash scripts/enprompt/few_shot.sh dtd 4 2" in few.stdout


def test_the_plan_decides_without_torch(tmp_path, sweep_data):  # noqa: F811
    statement = (
        "from enprompt.sweep.plan import build_sweep, plan\n"
        f"sweep = plan(build_sweep('base2new', ['dtd'], [1], output={str(tmp_path)!r}, "
        f"data={sweep_data!r}))\n"
        "assert [j.action for j in sweep.jobs] == ['run', 'run'], sweep.jobs"
    )
    assert modules_loaded_by(statement, ["torch", "numpy"]) == []


def test_a_bad_request_is_one_clear_error(tmp_path, tiny_clip_path, sweep_data):  # noqa: F811
    runs = SweepRuns(str(tmp_path), tiny_clip_path, sweep_data)
    unknown = runs.sweep("base2new", "--datasets", "mnist", "--dry-run")
    assert unknown.returncode == 2
    assert "Error: dataset 'mnist' is not one of protocol base2new's: imagenet" in unknown.stderr
    shots = runs.sweep("base2new", "--shots", "4", "--dry-run")
    assert shots.returncode == 2 and "--shots is for the few_shot protocol" in shots.stderr
    key = runs.sweep("few_shot", "--dry-run", opts=["NO.SUCH", "1"])
    assert key.returncode == 2 and "train.py would refuse the runs' options" in key.stderr
    assert "Traceback" not in unknown.stderr + shots.stderr + key.stderr


def test_the_sweep_runs_every_job_and_prints_the_table(local_sweep):  # noqa: F811
    runs, process = local_sweep
    assert_succeeded(process, "local sweep")
    records = run_records(runs.output)
    assert len(records) == B2N_RUNS
    assert all(status == "finished" and acc is not None for status, acc, _ in records.values())
    assert "### Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new" in process.stdout
    assert "| DTD |" in process.stdout and "| EuroSAT |" in process.stdout
    table = osp.join(runs.output, "sweeps", "base2new",
                     "base2new-EnPrompt-vit_b16_c4_ep5_batch4_base2new.md")
    with open(table) as f:
        assert f.read() in process.stdout
    for seed in (1, 2):  # each test started after its training had finished
        assert "finished base2new_test-dtd-seed%d" % seed in process.stderr


def test_the_sweep_equals_the_scripts_run_by_hand(local_sweep, tmp_path):  # noqa: F811
    runs, _ = local_sweep
    by_hand = str(tmp_path / "by_hand")
    env = dict(runs.env, OUTPUT=by_hand)
    opts = ["OPTIM.MAX_EPOCH", EPOCHS]
    for script in ("base2new_train.sh", "base2new_test.sh"):
        runs.script(script, "eurosat", "2", *opts, env=env, check=True)
    swept = run_records(runs.output)
    hand = run_records(by_hand)
    assert len(hand) == 2
    for run, record in hand.items():
        assert swept[run] == record  # status, accuracy, checkpoint bytes


def test_a_rerun_submits_nothing_and_a_deleted_run_is_the_only_job(local_sweep):  # noqa: F811
    runs, _ = local_sweep
    before = run_records(runs.output)
    logs = osp.join(runs.output, "sweeps", "base2new", "logs")
    shutil.rmtree(logs)
    again = runs.sweep(*B2N_SWEEP, "--executor", "local", opts=["OPTIM.MAX_EPOCH", EPOCHS])
    assert_succeeded(again, "rerun")
    assert again.stdout.startswith(f"Sweep base2new: {B2N_RUNS} job(s): {B2N_RUNS} skip\n")
    assert not os.listdir(logs)  # no job was started
    assert "| DTD |" in again.stdout

    deleted = STEPS["base2new_test"].run_dir(runs.output, "eurosat", seed=1)
    shutil.rmtree(deleted)
    third = runs.sweep(*B2N_SWEEP, "--executor", "local", opts=["OPTIM.MAX_EPOCH", EPOCHS])
    assert_succeeded(third, "sweep after a deleted run")
    assert third.stdout.startswith(f"Sweep base2new: {B2N_RUNS} job(s): {B2N_RUNS - 1} skip, "
                                   "1 to run\n")
    assert os.listdir(logs) == ["base2new_test-eurosat-seed1.log"]
    assert run_records(runs.output) == before


@pytest.fixture(scope="module")
def killed(tmp_path_factory, tiny_clip_path, sweep_data):  # noqa: F811
    """A one-dataset, one-seed sweep whose train.py is SIGKILLed after its first
    checkpoint (``first``: exit status and output), then the sweep again (``second``)."""
    runs = SweepRuns(str(tmp_path_factory.mktemp("killed")), tiny_clip_path, sweep_data)
    sweep, run_dir = start_kill_sweep(runs, "--executor", "local")
    os.kill(holder_pid(run_dir), signal.SIGKILL)
    first_output = sweep.communicate(timeout=300)[0]
    runs.first = (sweep.returncode, first_output)
    runs.second = runs.sweep(*KILL_SWEEP, "--executor", "local", opts=KILL_OPTS)
    return runs


def test_a_killed_job_fails_the_sweep_with_its_log_and_rerun_command(killed):
    code, output = killed.first
    assert code == 1
    assert "FAILED   base2new_train-dtd-seed3 (exit status 137); log: " in output
    assert "not run  base2new_test-dtd-seed3 (not run: base2new_train-dtd-seed3 failed)" in output
    assert "    rerun: cd " in output and "bash scripts/enprompt/base2new_train.sh dtd 3" in output
    log = output.split("log: ", 1)[1].split()[0]
    assert osp.isfile(log)


def test_the_next_sweep_finishes_a_killed_job_to_the_uninterrupted_result(killed, uninterrupted):  # noqa: F811
    assert_succeeded(killed.second, "sweep after the kill")
    assert "Sweep base2new: 2 job(s): 2 to run" in killed.second.stdout
    log = osp.join(killed.output, "sweeps", "base2new", "logs", "base2new_train-dtd-seed3.log")
    with open(log) as f:
        assert "resuming it from its last checkpoint" in f.read()
    assert_uninterrupted_result(killed.output, uninterrupted)
