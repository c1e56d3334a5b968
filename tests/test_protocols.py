"""The benchmark scripts end to end: scripts/enprompt/*.sh -> train.py -> tables.

Fake datasets (tests/fake_data.py) and the tiny random CLIP; epochs and
workers are reduced through options the scripts forward to train.py. The
scripts are run from a folder outside the repository with relative DATA and
OUTPUT, as a user may do. One module fixture runs every protocol once:

* base-to-novel training on DTD, killed after its first checkpoint and rerun
  (it must resume), then the test on the new classes;

every run with the same options (``OPTIM.MAX_EPOCH 4``, not a config's
default), so that a rerun of any script, or of a reproduce script, with those
options is the same experiment and is skipped;
* few-shot (2 shots) on DTD;
* cross-dataset training on ImageNet, tested on DTD and ImageNet-A;
* zero-shot CLIP on DTD.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.child_process import kill_after_first_checkpoint
from tests.fake_data import make_dtd, make_imagenet, make_imagenet_a
from tests.log_patterns import result_blocks
from tests.paths import REPO
from tests.script_helpers import SCRIPTS, run_script, script_env

B2N_CFG = "vit_b16_c4_ep5_batch4_base2new"
XD_CFG = "vit_b16_c4_ep2_batch4_cross_datasets"
FS_CFG = "vit_b16_c4_ep50_batch4_few_shot"
EPOCHS = 4  # not a config's own: the test script must find the model's final epoch


def logs_in(run_dir):
    return sorted(f for f in os.listdir(run_dir) if f.startswith("log.txt"))


def read(path):
    with open(path) as f:
        return f.read()


class Runs:
    """Folders and outputs of the module fixture."""

    def __init__(self, workdir, opts, env):
        self.workdir = workdir
        self.output = osp.join(workdir, "output")  # OUTPUT=output, relative to workdir
        self.opts = opts
        self.env = env
        self.b2n_train = osp.join(
            self.output, "base2new", "train_base", "dtd", "shots_16", "EnPrompt", B2N_CFG, "seed1"
        )
        self.b2n_test = self.b2n_train.replace("train_base", "test_new")
        self.few_shot = osp.join(self.output, "few_shot", "dtd", "EnPrompt", f"{FS_CFG}_2shots", "seed1")
        self.xd_train = osp.join(self.output, "imagenet", "EnPrompt", f"{XD_CFG}_16shots", "seed1")
        self.xd_eval = osp.join(self.output, "evaluation", "EnPrompt", f"{XD_CFG}_16shots")

    def script(self, name, *args, check=True):
        return run_script(name, *args, *self.opts, cwd=self.workdir, env=self.env, check=check)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip_path):
    workdir = str(tmp_path_factory.mktemp("protocols"))
    data = osp.join(workdir, "data")
    make_dtd(data, n_classes=4, n_per_class=6, class_dependent=True)
    make_imagenet(data, n_classes=4, n_train=3, n_val=2, class_dependent=True)
    make_imagenet_a(data, n_classes=3, n_per_class=2, class_dependent=True)
    opts = [
        "OPTIM.MAX_EPOCH", str(EPOCHS),
        "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TEST.BATCH_SIZE", "16",
        "TRAINER.ENPROMPT.CLIP_WEIGHTS", tiny_clip_path,
    ]
    r = Runs(workdir, opts, script_env(DATA="data", OUTPUT="output"))

    # Base-to-novel training, interrupted after its first checkpoint, then rerun.
    train_args = ["dtd", "1", "TRAIN.CHECKPOINT_FREQ", "1"]
    r.killed_at = kill_after_first_checkpoint(
        ["bash", osp.join(SCRIPTS, "base2new_train.sh"), *train_args, *opts],
        r.b2n_train, env=r.env, cwd=workdir,
    )
    r.logs_before_resume = logs_in(r.b2n_train)
    r.resume = r.script("base2new_train.sh", *train_args)
    r.b2n_test_run = r.script("base2new_test.sh", "dtd", "1")
    r.script("few_shot.sh", "dtd", "2", "1")
    r.script("xd_train.sh", "1")
    r.script("xd_test.sh", "dtd", "1")
    r.script("xd_test.sh", "imagenet_a", "1")
    r.script("zeroshot.sh", "dtd")
    return r


def finished_accuracy(run_dir, signal_line):
    """The accuracy after ``signal_line`` in the run's newest log that has one (test's own parser)."""
    for name in reversed(logs_in(run_dir)):
        text = read(osp.join(run_dir, name))
        if signal_line in text:
            blocks = result_blocks(text[text.index(signal_line):])
            if blocks:
                return blocks[-1]["accuracy"]
    raise AssertionError(f"no finished result in {run_dir}")


def test_interrupted_training_resumes(runs):
    assert 1 <= runs.killed_at < EPOCHS, "the run finished before it could be killed"
    assert runs.logs_before_resume == ["log.txt"]
    assert "Found an unfinished run" in runs.resume.stdout
    rerun_logs = [f for f in logs_in(runs.b2n_train) if f != "log.txt"]
    assert len(rerun_logs) == 1 and rerun_logs[0].startswith("log.txt-")
    rerun = read(osp.join(runs.b2n_train, rerun_logs[0]))
    assert f"Found checkpoint at {runs.b2n_train} (will resume training)" in rerun
    assert f"Previous epoch: {runs.killed_at}" in rerun
    assert "epoch [1/" not in rerun
    assert f"epoch [{runs.killed_at + 1}/{EPOCHS}]" in rerun
    assert "Finish training" in rerun and "Finish training" not in read(osp.join(runs.b2n_train, "log.txt"))


def test_new_classes_are_tested_with_the_final_checkpoint_of_the_finished_model(runs):
    log = read(osp.join(runs.b2n_test, "log.txt"))
    checkpoint = osp.join(runs.b2n_train, "prompt_learner", f"model.pth.tar-{EPOCHS}")
    assert f'Loading weights to prompt_learner from "{checkpoint}"' in log
    assert "--load-epoch" not in runs.b2n_test_run.stdout  # train.py reads the model's manifest
    evaluated = json.loads(read(osp.join(runs.b2n_test, "manifest.json")))["evaluated"]
    model = json.loads(read(osp.join(runs.b2n_train, "manifest.json")))
    assert evaluated["checkpoint"] == f"prompt_learner/model.pth.tar-{EPOCHS}"
    assert (evaluated["sha256"], evaluated["model_run_id"]) == (
        model["checkpoint"]["sha256"], model["run_id"])
    assert "SUBSAMPLE_CLASSES: new" in log
    finished_accuracy(runs.b2n_test, "=> result")


def test_every_protocol_writes_its_coop_folder(runs):
    train_runs = [runs.b2n_train, runs.few_shot, runs.xd_train]
    eval_runs = [runs.b2n_test, osp.join(runs.xd_eval, "dtd", "seed1"),
                 osp.join(runs.xd_eval, "imagenet_a", "seed1"),
                 osp.join(runs.output, "ZeroshotCLIP", "vit_b16", "dtd")]
    for run_dir in train_runs:
        finished_accuracy(run_dir, "Finish training")
    for run_dir in eval_runs:
        finished_accuracy(run_dir, "=> result")
    few_shot_log = read(osp.join(runs.few_shot, "log.txt"))
    assert "NUM_SHOTS: 2" in few_shot_log
    assert f"model.pth.tar-{EPOCHS}" in os.listdir(osp.join(runs.xd_train, "prompt_learner"))


def table_accuracy(run_dir, signal_line):
    """The accuracy a table shows: the run manifest's, which its log prints to one decimal."""
    with open(osp.join(run_dir, "manifest.json")) as f:
        value = json.load(f)["result"]["accuracy"]
    assert abs(value - finished_accuracy(run_dir, signal_line)) <= 0.05
    return value


def test_results_tables_from_the_script_runs(runs, tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "enprompt.results", runs.output, "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    out = process.stdout
    base = table_accuracy(runs.b2n_train, "Finish training")
    new = table_accuracy(runs.b2n_test, "=> result")
    hm = 2 * base * new / (base + new)
    assert f"| DTD | {base:.2f} ± 0.00 | {new:.2f} ± 0.00 | {hm:.2f} | 1 |" in out

    xd = out.split("### Cross-dataset", 1)[1].split("###", 1)[0]
    source = table_accuracy(runs.xd_train, "Finish training")
    dtd = table_accuracy(osp.join(runs.xd_eval, "dtd", "seed1"), "=> result")
    assert f"| ImageNet (source) | {source:.2f} ± 0.00 | 1 |" in xd
    assert f"| DTD | {dtd:.2f} ± 0.00 | 1 |" in xd
    dg = out.split("### Domain generalization", 1)[1].split("###", 1)[0]
    ina = table_accuracy(osp.join(runs.xd_eval, "imagenet_a", "seed1"), "=> result")
    assert f"| ImageNet-A | {ina:.2f} ± 0.00 | 1 |" in dg
    few = out.split("### Few-shot", 1)[1]
    assert "| Dataset | 2 shots | Seeds |" in few
    assert f"| DTD | {table_accuracy(runs.few_shot, 'Finish training'):.2f} ± 0.00 | 1 |" in few
    assert "Missing runs" not in out and "Refused" not in out
    assert (tmp_path / f"few_shot-EnPrompt-{FS_CFG}.png").is_file()


@pytest.mark.parametrize("script,args,run_attr", [
    ("base2new_train.sh", ["dtd", "1"], "b2n_train"),
    ("base2new_test.sh", ["dtd", "1"], "b2n_test"),
    ("few_shot.sh", ["dtd", "2", "1"], "few_shot"),
    ("xd_train.sh", ["1"], "xd_train"),
])
def test_finished_runs_are_skipped(runs, script, args, run_attr):
    run_dir = getattr(runs, run_attr)
    before = sorted(os.listdir(run_dir))
    extra = ["TRAIN.CHECKPOINT_FREQ", "1"] if run_attr == "b2n_train" else []
    process = runs.script(script, *args, *extra)
    assert f"The results exist at {run_dir} (so skip this job)" in process.stdout
    assert sorted(os.listdir(run_dir)) == before  # no new log, nothing written


def test_reproduce_scripts_loop_and_print_the_tables(runs):
    """All their runs are finished, so they only skip and print the tables."""
    env = dict(runs.env, DATASETS="dtd", SEEDS="1", SHOTS="2", TARGETS="dtd imagenet_a")
    for name, table in [("reproduce_base2new.sh", "### Base-to-novel"),
                        ("reproduce_few_shot.sh", "### Few-shot"),
                        ("reproduce_xd.sh", "### Domain generalization")]:
        process = run_script(name, *runs.opts, cwd=runs.workdir, env=env)
        expected_skips = {"reproduce_base2new.sh": 2, "reproduce_few_shot.sh": 1,
                          "reproduce_xd.sh": 3}[name]
        assert process.stdout.count("(so skip this job)") == expected_skips
        assert table in process.stdout


def test_missing_data_is_a_clear_error(tmp_path):
    calls = [
        ("base2new_train.sh", ["dtd", "1"]), ("base2new_test.sh", ["dtd", "1"]),
        ("few_shot.sh", ["dtd", "1", "1"]), ("xd_train.sh", ["1"]), ("xd_test.sh", ["dtd", "1"]),
        ("reproduce_base2new.sh", []), ("reproduce_few_shot.sh", []), ("reproduce_xd.sh", []),
        ("zeroshot.sh", ["dtd"]),
    ]
    for name, args in calls:
        unset = run_script(name, *args, cwd=tmp_path, env=script_env(), check=False)
        assert unset.returncode == 1, name
        assert "Error: DATA is not set" in unset.stderr, name
        wrong = run_script(name, *args, cwd=tmp_path, env=script_env(DATA="nowhere"), check=False)
        assert wrong.returncode == 1, name
        assert "Error: DATA=nowhere is not a directory" in wrong.stderr, name
    assert not os.listdir(tmp_path)


def test_argument_errors(tmp_path):
    env = script_env(DATA=str(tmp_path), OUTPUT=str(tmp_path / "out"))
    usage = run_script("few_shot.sh", "dtd", cwd=tmp_path, env=env, check=False)
    assert usage.returncode == 2
    assert "Usage: bash scripts/enprompt/few_shot.sh DATASET SHOTS SEED" in usage.stderr
    unknown = run_script("base2new_train.sh", "dtdd", "1", cwd=tmp_path, env=env, check=False)
    assert unknown.returncode == 1 and "unknown dataset 'dtdd'" in unknown.stderr
    assert "oxford_pets" in unknown.stderr
    bad_seed = run_script("xd_train.sh", "one", cwd=tmp_path, env=env, check=False)
    assert bad_seed.returncode == 1 and "SEED must be a non-negative integer" in bad_seed.stderr
    bad_cfg = run_script("xd_train.sh", "1", cwd=tmp_path, env=dict(env, CFG="nope"), check=False)
    assert bad_cfg.returncode == 1 and "configs/trainers/EnPrompt/nope.yaml" in bad_cfg.stderr


def test_test_scripts_need_a_trained_model(tmp_path):
    output = tmp_path / "out"
    env = script_env(DATA=str(tmp_path), OUTPUT=str(output))
    no_model = run_script("base2new_test.sh", "eurosat", "1", cwd=tmp_path, env=env, check=False)
    model_dir = output / "base2new" / "train_base" / "eurosat" / "shots_16" / "EnPrompt" / B2N_CFG / "seed1"
    assert no_model.returncode == 2
    assert f'--model-dir "{model_dir}" does not exist' in no_model.stderr

    (model_dir / "prompt_learner").mkdir(parents=True)
    for script, args in [("base2new_test.sh", ["eurosat", "1"]), ("xd_test.sh", ["dtd", "1"])]:
        if script == "xd_test.sh":
            model_dir = output / "imagenet" / "EnPrompt" / f"{XD_CFG}_16shots" / "seed1"
            (model_dir / "prompt_learner").mkdir(parents=True)
        empty = run_script(script, *args, cwd=tmp_path, env=env, check=False)
        assert empty.returncode == 2, script
        assert f"{model_dir} holds no trained model" in empty.stderr, script
