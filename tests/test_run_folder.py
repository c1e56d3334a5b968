"""Reusing a run folder: skip, resume, refuse, one process per folder, clean interrupts.

Through the real scripts and ``train.py`` on a fake DTD tree with the tiny
CLIP. Two module scenarios, each a sequence of commands whose outputs the
tests below read:

* ``finished``: a finished 2-epoch base-to-novel run, then requests that are
  other experiments (another dataset, shots, epochs, seed, OT switch) in its
  folder, each refused before any work, and a run with other shots, which
  lands in its own folder;
* ``interrupted``: a 30-epoch run interrupted by Ctrl-C after its first
  checkpoint (meanwhile a second process tries the same folder), the test
  script on the unfinished model (refused; then an explicit ``LOADEP``: a
  partial result), the run resumed to the end, the test again, and a retrain
  from scratch (``OVERWRITE=1``) that makes the test evaluate again.

These are the situations where earlier versions silently mixed models:
continuing another experiment's checkpoints, skipping a run because a smoke
test with fewer epochs had finished there, recording a test of an unfinished
model as a result, or keeping that result after the model was finished.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest

from enprompt.protocols import STEPS
from tests.child_process import wait_for_checkpoint
from tests.log_patterns import resume_advice
from tests.paths import REPO
from tests.script_helpers import ScriptRuns

ENGINES = ["builtin", pytest.param("dassl", marks=pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import dassl"], capture_output=True).returncode != 0,
    reason="Dassl.pytorch is not installed, so only the built-in engine can be run"))]


def read(path):
    with open(path) as f:
        return f.read()


def manifest(run_dir):
    return json.loads(read(osp.join(run_dir, "manifest.json")))


def snapshot(run_dir):
    """Every file of a run folder with its bytes (to show that nothing was touched),
    but the lock file, which names the last process that opened the folder."""
    files = {}
    for folder, _, names in os.walk(run_dir):
        for name in names:
            if name == ".lock":
                continue
            path = osp.join(folder, name)
            with open(path, "rb") as f:
                files[osp.relpath(path, run_dir)] = f.read()
    return files


class Scenario(ScriptRuns):
    """Data, options and helpers of one module scenario."""

    def __init__(self, workdir, clip_path, engine):
        super().__init__(workdir, clip_path, engine)
        self.results = {}

    def run_dir(self, step="base2new_train", seed=1, shots=16):
        return STEPS[step].run_dir(self.output, "dtd", seed=seed, shots=shots)

    def train_py(self, *args, output_dir, seed=1):
        command = [
            sys.executable, "train.py", "--root", self.data, "--seed", str(seed),
            "--trainer", "EnPrompt", "--dataset-config-file", "configs/datasets/dtd.yaml",
            "--config-file", "configs/trainers/EnPrompt/vit_b16_c4_ep5_batch4_base2new.yaml",
            "--output-dir", output_dir, "DATASET.NUM_SHOTS", "16",
            "DATASET.SUBSAMPLE_CLASSES", "base", *self.opts, *args,
        ]
        return subprocess.run(command, cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=600)


@pytest.fixture(scope="module", params=ENGINES)
def finished(request, tmp_path_factory, tiny_clip_path):
    s = Scenario(str(tmp_path_factory.mktemp("finished")), tiny_clip_path, request.param)
    r = s.results
    r["smoke"] = s.script("base2new_train.sh", "dtd", "1", "OPTIM.MAX_EPOCH", "2", check=True)
    s.folder = s.run_dir()
    s.before = snapshot(s.folder)
    # Another experiment in the same folder, each refused before any work.
    r["flowers"] = subprocess.run(
        [sys.executable, "train.py", "--root", s.data, "--seed", "1", "--trainer", "EnPrompt",
         "--dataset-config-file", "configs/datasets/oxford_flowers.yaml",
         "--config-file", "configs/trainers/EnPrompt/vit_b16_c4_ep5_batch4_base2new.yaml",
         "--output-dir", s.folder, "DATASET.NUM_SHOTS", "4", "OPTIM.MAX_EPOCH", "4", *s.opts],
        cwd=REPO, env=s.env, capture_output=True, text=True, timeout=600,
    )
    r["real_run"] = s.script("base2new_train.sh", "dtd", "1")  # the config's 5 epochs
    r["more_epochs"] = s.script("base2new_train.sh", "dtd", "1", "OPTIM.MAX_EPOCH", "4")
    r["seed"] = s.train_py("OPTIM.MAX_EPOCH", "2", output_dir=s.folder, seed=2)
    r["no_ot"] = s.train_py("OPTIM.MAX_EPOCH", "2", "TRAINER.ENPROMPT.OT.ENABLE", "False",
                            output_dir=s.folder)
    s.after = snapshot(s.folder)
    # The same request again: skipped. Other shots: a folder of its own.
    r["again"] = s.script("base2new_train.sh", "dtd", "1", "OPTIM.MAX_EPOCH", "2")
    r["two_shots"] = s.script("base2new_train.sh", "dtd", "1", "OPTIM.MAX_EPOCH", "2",
                              "DATASET.NUM_SHOTS", "2", check=True)
    return s


def test_another_experiment_in_a_finished_folder_is_refused_naming_each_key(finished):
    flowers = finished.results["flowers"]
    assert flowers.returncode == 2
    error = flowers.stderr
    assert f"Error: {finished.folder} holds another experiment (train run, finished)" in error
    assert "DATASET.NAME: 'DescribableTextures' (in the folder) vs 'OxfordFlowers' (requested)" in error
    assert "DATASET.NUM_SHOTS: 16 (in the folder) vs 4 (requested)" in error
    assert "OPTIM.MAX_EPOCH: 2 (in the folder) vs 4 (requested)" in error
    assert "DATASET.SUBSAMPLE_CLASSES: 'base' (in the folder) vs 'all' (requested)" in error
    assert "--output-dir" in error and "--overwrite" in error and "OVERWRITE=1" in error
    assert "Previous epoch" not in flowers.stdout and "Traceback" not in error


@pytest.mark.parametrize("request_name,key,stored,requested", [
    ("real_run", "OPTIM.MAX_EPOCH", "2", "5"),     # the real run after a smoke test
    ("more_epochs", "OPTIM.MAX_EPOCH", "2", "4"),  # a finished run with more epochs
    ("seed", "SEED", "1", "2"),
    ("no_ot", "TRAINER.ENPROMPT.OT.ENABLE", "True", "False"),
])
def test_other_settings_in_the_same_folder_are_refused(finished, request_name, key, stored,
                                                       requested):
    process = finished.results[request_name]
    assert process.returncode == 2
    assert f"{key}: {stored} (in the folder) vs {requested} (requested)" in process.stderr
    assert "so skip this job" not in process.stdout


def test_refused_requests_touch_nothing_and_the_same_request_is_skipped(finished):
    assert finished.after == finished.before  # checkpoint, logs, manifest: byte for byte
    again = finished.results["again"]
    assert again.returncode == 0
    assert f"The results exist at {finished.folder} (so skip this job): accuracy" in again.stdout
    assert snapshot(finished.folder) == finished.before


def test_the_run_folder_names_the_shots_the_run_uses(finished):
    two = finished.run_dir(shots=2)
    assert "/shots_2/" in two
    record = manifest(two)
    assert record["status"] == "finished"
    assert record["identity"]["keys"]["DATASET.NUM_SHOTS"] == 2
    assert manifest(finished.folder)["identity"]["keys"]["DATASET.NUM_SHOTS"] == 16


def test_the_manifest_traces_the_run(finished):
    record = manifest(finished.folder)
    assert record["kind"] == "train" and record["status"] == "finished"
    assert record["trainer"] == "EnPrompt" and record["dataset"] == "DescribableTextures"
    assert record["classnames"] == ["banded", "blotchy"]
    assert record["epochs"] == {"done": 2, "max": 2}
    assert record["checkpoint"]["path"] == "prompt_learner/model.pth.tar-2"
    assert record["data"]["split_file"]["path"] == "split_zhou_DescribableTextures.json"
    assert record["data"]["fewshot_file"]["path"] == "split_fewshot/shot_16-seed_1.json"
    assert len(record["identity"]["keys"]["CLIP.WEIGHTS_SHA256"]) == 64
    assert "OUTPUT_DIR" not in record["identity"]["keys"]
    log = read(osp.join(finished.folder, "log.txt"))
    accuracy = float(log.rsplit("* accuracy: ", 1)[1].split("%")[0])
    assert round(record["result"]["accuracy"], 1) == accuracy
    assert record["environment"]["versions"]["torch"]


def _start_in_group(scenario, *args):
    command = ["bash", osp.join(REPO, "scripts", "enprompt", "base2new_train.sh"), "dtd", "1",
               *scenario.opts, *args]
    return subprocess.Popen(command, cwd=scenario.workdir, env=scenario.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.fixture(scope="module", params=ENGINES)
def interrupted(request, tmp_path_factory, tiny_clip_path):
    s = Scenario(str(tmp_path_factory.mktemp("interrupted")), tiny_clip_path, request.param)
    r = s.results
    s.folder = s.run_dir()
    s.test_folder = s.run_dir("base2new_test")
    long_run = ["OPTIM.MAX_EPOCH", "30"]

    first = _start_in_group(s, *long_run)
    try:
        wait_for_checkpoint(first, s.folder)
        r["second_process"] = s.train_py(*long_run, output_dir=s.folder, seed=2)
        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in the terminal
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    r["ctrl_c"] = subprocess.CompletedProcess(first.args, first.returncode, out, err)
    s.interrupted_manifest = manifest(s.folder)
    s.logs_after_interrupt = {name: read(osp.join(s.folder, name))
                              for name in os.listdir(s.folder) if name.startswith("log.txt")}

    r["test_unfinished"] = s.script("base2new_test.sh", "dtd", "1", *long_run)
    r["test_partial"] = s.script("base2new_test.sh", "dtd", "1", *long_run,
                                 env={"LOADEP": str(s.interrupted_manifest["epochs"]["done"])})
    s.partial_manifest = manifest(s.test_folder)
    r["default_epochs"] = s.script("base2new_train.sh", "dtd", "1")
    r["resume"] = s.script("base2new_train.sh", "dtd", "1", *long_run)
    s.finished_manifest = manifest(s.folder)
    r["test_finished"] = s.script("base2new_test.sh", "dtd", "1", *long_run)
    s.test_manifest = manifest(s.test_folder)
    r["test_again"] = s.script("base2new_test.sh", "dtd", "1", *long_run)
    r["retrain"] = s.script("base2new_train.sh", "dtd", "1", *long_run, env={"OVERWRITE": "1"})
    s.retrained_manifest = manifest(s.folder)
    r["test_retrained"] = s.script("base2new_test.sh", "dtd", "1", *long_run)
    s.retested_manifest = manifest(s.test_folder)
    return s


def test_ctrl_c_stops_with_one_line_and_exit_130(interrupted):
    ctrl_c = interrupted.results["ctrl_c"]
    assert ctrl_c.returncode == 130
    assert "Traceback" not in ctrl_c.stderr and "KeyboardInterrupt" not in ctrl_c.stderr
    done = interrupted.interrupted_manifest["epochs"]["done"]
    assert 1 <= done < 30
    [notice] = [line for line in ctrl_c.stdout.splitlines() if line.startswith("Interrupted")]
    assert notice.startswith("Interrupted by SIGINT at epoch ")
    assert notice.endswith(resume_advice(done))
    assert notice in interrupted.logs_after_interrupt["log.txt"]  # in the log too
    assert interrupted.interrupted_manifest["status"] == "interrupted"
    assert interrupted.interrupted_manifest["error"] == notice


def test_a_second_process_in_the_folder_is_refused_naming_the_first(interrupted):
    second = interrupted.results["second_process"]
    assert second.returncode == 2
    assert f"{interrupted.folder} is in use by process " in second.stderr
    assert "train.py --root" in second.stderr  # the first process's command line
    assert "nothing was changed" in second.stderr
    # the first run's manifest is the first run's (seed 1), not the second's
    assert interrupted.interrupted_manifest["identity"]["keys"]["SEED"] == 1


def test_testing_an_unfinished_model_is_refused_with_the_epochs_done(interrupted):
    refused = interrupted.results["test_unfinished"]
    done = interrupted.interrupted_manifest["epochs"]["done"]
    assert refused.returncode == 2
    assert f"has not finished training (interrupted; {done} of 30 epochs done)" in refused.stderr
    assert f"it resumes from epoch {done + 1}" in refused.stderr
    assert "LOADEP=N" in refused.stderr


def test_an_explicit_epoch_of_an_unfinished_model_is_a_partial_result(interrupted):
    assert interrupted.results["test_partial"].returncode == 0
    partial = interrupted.partial_manifest
    done = interrupted.interrupted_manifest["epochs"]["done"]
    assert partial["status"] == "finished" and partial["partial"] is True
    assert partial["evaluated"]["epoch"] == done
    assert partial["evaluated"]["model_status"] == "interrupted"


def test_an_unfinished_run_is_not_resumed_with_other_epochs(interrupted):
    refused = interrupted.results["default_epochs"]
    assert refused.returncode == 2
    assert "OPTIM.MAX_EPOCH: 30 (in the folder) vs 5 (requested)" in refused.stderr
    assert "Finish training" not in refused.stdout


def test_the_same_command_resumes_the_interrupted_run(interrupted):
    resume = interrupted.results["resume"]
    assert resume.returncode == 0
    assert "Found an unfinished run of the same experiment (interrupted: Interrupted by SIGINT" in resume.stdout
    done = interrupted.interrupted_manifest["epochs"]["done"]
    assert f"Previous epoch: {done}" in resume.stdout
    record = interrupted.finished_manifest
    assert record["status"] == "finished" and record["epochs"] == {"done": 30, "max": 30}
    assert record["run_id"] == interrupted.interrupted_manifest["run_id"]
    assert len(record["resumed"]) == 1


def test_the_test_is_redone_once_the_model_is_finished_and_then_skipped(interrupted):
    test = interrupted.results["test_finished"]
    assert "the previous result is partial; evaluating again" in test.stdout
    record = interrupted.test_manifest
    assert record["partial"] is False and record["evaluated"]["epoch"] == 30
    assert record["evaluated"]["sha256"] == interrupted.finished_manifest["checkpoint"]["sha256"]
    again = interrupted.results["test_again"]
    assert f"The results exist at {interrupted.test_folder} (so skip this job)" in again.stdout


def test_a_retrained_model_is_tested_again(interrupted):
    retrain = interrupted.results["retrain"]
    assert retrain.returncode == 0 and "Previous epoch" not in retrain.stdout
    assert interrupted.retrained_manifest["run_id"] != interrupted.finished_manifest["run_id"]
    test = interrupted.results["test_retrained"]
    assert "the model was trained again since this evaluation" in test.stdout
    evaluated = interrupted.retested_manifest["evaluated"]
    assert evaluated["model_run_id"] == interrupted.retrained_manifest["run_id"]
