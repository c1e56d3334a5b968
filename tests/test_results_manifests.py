"""Tables from run manifests: real runs of the scripts, then folders copied around.

One module scenario on a fake DTD with the tiny CLIP (built-in engine; the
tables read files, whichever engine wrote them). Through
``scripts/enprompt/*.sh`` and ``train.py``:

* seed 1, ``DATASET.NUM_SHOTS 2``, 1 epoch: trained (model X), tested on the
  new classes, then trained again from scratch with ``OVERWRITE=1`` (model
  X'), the test folder kept from before (it evaluated X);
* seed 2, 16 shots, 1 epoch: trained and tested (model Z);
* seed 3, 16 shots: diverges (``OPTIM.LR 1e30``) and stops at the end of an
  epoch whose weights are not those of a good checkpoint;
* seed 4, 16 shots, 30 epochs: interrupted by Ctrl-C after its first
  checkpoint, then tested with ``LOADEP`` (a partial result).

Before the retrain, copies of X and of its test are put into other output
roots in the places users put them by hand: under ``shots_16/`` (the shots of
the folder name are not those used), beside model Z as another seed of the
same cell (two experiments in one cell), and as the source and target of a
cross-dataset table. Each situation is one that earlier tables averaged
silently or described wrongly.
"""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest

import parse_test_res
from enprompt import results
from enprompt.protocols import STEPS
from tests.child_process import kill_after_first_checkpoint
from tests.log_patterns import resume_advice
from tests.paths import REPO
from tests.script_helpers import SCRIPTS, ScriptRuns

B2N_TRAIN, B2N_TEST = STEPS["base2new_train"], STEPS["base2new_test"]
XD_TRAIN, XD_TEST = STEPS["xd_train"], STEPS["xd_test"]


def manifest(run_dir):
    with open(osp.join(run_dir, "manifest.json")) as f:
        return json.load(f)


def diverged(run_dir):
    """``"failed: "`` and the error the failed run's manifest records (its divergence)."""
    error = manifest(run_dir)["error"]
    assert error.startswith("TrainingDiverged: Training diverged in epoch "), error
    return f"failed: {error}"


def copy_run(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))


class Runs(ScriptRuns):
    """The output roots of the scenario and their run folders."""

    def root(self, name):
        return osp.join(self.workdir, name)

    @staticmethod
    def b2n(root, step, seed, shots=16):
        return step.run_dir(root, "dtd", seed=seed, shots=shots)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip_path):
    r = Runs(str(tmp_path_factory.mktemp("manifest_tables")), tiny_clip_path)
    out = r.output
    one_epoch, two_shots = ["OPTIM.MAX_EPOCH", "1"], ["DATASET.NUM_SHOTS", "2"]
    r.script("base2new_train.sh", "dtd", "1", *one_epoch, *two_shots, check=True)
    r.script("base2new_test.sh", "dtd", "1", *one_epoch, *two_shots, check=True)
    r.script("base2new_train.sh", "dtd", "2", *one_epoch, check=True)
    r.script("base2new_test.sh", "dtd", "2", *one_epoch, check=True)
    failed = r.script("base2new_train.sh", "dtd", "3", "OPTIM.MAX_EPOCH", "3", "OPTIM.LR", "1e30")
    assert failed.returncode == 2, failed.stderr[-2000:]
    seed4 = r.b2n(out, B2N_TRAIN, 4)
    kill_after_first_checkpoint(
        ["bash", osp.join(SCRIPTS, "base2new_train.sh"), "dtd", "4", "OPTIM.MAX_EPOCH", "30",
         *r.opts], seed4, env=r.env, cwd=r.workdir, sig=signal.SIGINT)
    assert manifest(seed4)["status"] == "interrupted"
    r.seed4_epochs = manifest(seed4)["epochs"]["done"]
    r.script("base2new_test.sh", "dtd", "4", "OPTIM.MAX_EPOCH", "30",
             env={"LOADEP": str(r.seed4_epochs)}, check=True)

    x, x_test = r.b2n(out, B2N_TRAIN, 1, shots=2), r.b2n(out, B2N_TEST, 1, shots=2)
    z, z_test = r.b2n(out, B2N_TRAIN, 2), r.b2n(out, B2N_TEST, 2)
    r.x, r.x_test, r.z, r.z_test = x, x_test, z, z_test
    # Hand-made folders: the 2-shot run under shots_16/ ...
    renamed = r.root("renamed")
    copy_run(x, r.b2n(renamed, B2N_TRAIN, 1))
    copy_run(x_test, r.b2n(renamed, B2N_TEST, 1))
    # ... and as seed 1 beside the 16-shot seed 2: two experiments in one cell.
    mixed = r.root("mixed")
    for src, step, seed in [(x, B2N_TRAIN, 1), (x_test, B2N_TEST, 1), (z, B2N_TRAIN, 2),
                            (z_test, B2N_TEST, 2)]:
        copy_run(src, r.b2n(mixed, step, seed))
    r.x_manifest, r.x_test_manifest = manifest(x), manifest(x_test)

    # Retrain seed 1 from scratch; its test folder is kept from before.
    r.script("base2new_train.sh", "dtd", "1", *one_epoch, *two_shots, env={"OVERWRITE": "1"},
             check=True)
    r.x2_manifest = manifest(x)
    # Cross-dataset layout: the retrained model as the source, the old test of
    # its predecessor as a target, and the 16-shot test beside it as another.
    xd = r.root("xd")
    for src, dst in [(x, XD_TRAIN.run_dir(xd, "imagenet", seed=1)),
                     (x_test, XD_TEST.run_dir(xd, "dtd", seed=1)),
                     (z_test, XD_TEST.run_dir(xd, "caltech101", seed=1))]:
        copy_run(src, dst)
    # Folders written before manifests existed.
    legacy = r.root("legacy")
    for seed, src in [(2, z_test), (4, r.b2n(out, B2N_TEST, 4))]:
        dst = osp.join(legacy, f"seed{seed}")
        copy_run(src, dst)
        os.remove(osp.join(dst, "manifest.json"))
    return r


def tables_of(root):
    return {table.title: table for table in results.collect_tables(root)}


def markdown(capsys, *argv):
    assert results.main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def block(text, title_start):
    return text.split(f"### {title_start}", 1)[1].split("\n### ", 1)[0]


def row(text, label):
    [line] = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def accuracy(run_dir):
    return manifest(run_dir)["result"]["accuracy"]


def hm(b, n):
    return 2 * b * n / (b + n)


# --------------------------------------------------------------------------
# Observation: Base of one model, New of another, averaged without a word
# --------------------------------------------------------------------------
def test_new_result_of_a_model_trained_again_since_is_refused_with_the_reason(runs, capsys):
    out = markdown(capsys, runs.output)
    table = block(out, "Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new (2 shots")
    # Base is the retrained model's; New evaluated the model before it: no HM
    assert row(table, "DTD") == [f"{accuracy(runs.x):.2f} ± 0.00", "–", "–", "0/1"]
    old, new = runs.x_test_manifest["evaluated"], runs.x2_manifest
    assert old["model_run_id"] == runs.x_manifest["run_id"] != new["run_id"]
    assert (
        f"Refused, not averaged (1):\n- {runs.x_test}: mixed checkpoints: it evaluated epoch 1 "
        f"of model run {old['model_run_id'][:8]} (sha256 {old['sha256'][:12]}), but the model "
        f"folder {runs.x} now holds run {new['run_id'][:8]}, finished at epoch 1 (sha256 "
        f"{new['checkpoint']['sha256'][:12]}); not counted. To evaluate that model, rerun "
        "base2new_test.sh dtd 1 with the options of its training run"
    ) in table
    assert "Average" not in table


def test_parse_test_res_refuses_an_evaluation_of_a_model_trained_again_since(runs, capsys):
    code = parse_test_res.main(parse_test_res.build_parser().parse_args(
        [osp.dirname(runs.x_test)]))
    captured = capsys.readouterr()
    assert code == 1
    assert f"Not counted: {runs.x_test}: mixed checkpoints: it evaluated epoch 1" in captured.err
    assert "Summary of directory" not in captured.out


def test_evaluations_of_the_source_model_are_checked_in_cross_dataset_tables(runs, capsys):
    out = markdown(capsys, runs.root("xd"))
    table = block(out, "Cross-dataset")
    assert "(2 shots on ImageNet, 1 epoch)\n" in table
    assert row(table, "ImageNet (source)") == [f"{accuracy(runs.x):.2f} ± 0.00", "1"]
    # DTD evaluated the source's predecessor; Caltech101 holds seed 2's evaluation
    assert row(table, "DTD") == ["–", "0/1"] and row(table, "Caltech101") == ["–", "0/1"]
    xd = runs.root("xd")
    assert "Refused, not averaged (2):" in table
    assert (f"- {XD_TEST.run_dir(xd, 'dtd', seed=1)}: mixed checkpoints: it evaluated epoch 1 "
            f"of model run {runs.x_manifest['run_id'][:8]}") in table
    assert "rerun xd_test.sh dtd 1 with the options of its training run" in table
    assert (f"- {XD_TEST.run_dir(xd, 'caltech101', seed=1)}: misplaced: its folder says seed 1, "
            "but the run used SEED 2 (copied or renamed?); not counted") in table


# --------------------------------------------------------------------------
# Observation: the header says the shots of the folder name
# --------------------------------------------------------------------------
def test_the_header_shows_the_shots_and_epochs_the_runs_used(runs, capsys):
    out = markdown(capsys, runs.root("renamed"))
    assert "### Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new (2 shots, 1 epoch)\n" in out
    assert ("The runs used DATASET.NUM_SHOTS 2, though their folders are named for 16 shots; "
            "the title shows what the runs used.") in out
    b, n = accuracy(runs.x), runs.x_test_manifest["result"]["accuracy"]
    assert row(out, "DTD") == [f"{b:.2f} ± 0.00", f"{n:.2f} ± 0.00", f"{hm(b, n):.2f}", "1"]
    out = markdown(capsys, runs.output)
    assert "(16 shots, 1 epoch)\n" in out and "(2 shots, 1 epoch)\n" in out


# --------------------------------------------------------------------------
# Seeds of one cell from different experiments
# --------------------------------------------------------------------------
def test_seeds_of_different_experiments_are_not_averaged(runs, capsys):
    out = markdown(capsys, runs.root("mixed"))
    assert "### Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new (2 or 16 shots, 1 epoch)\n" in out
    assert ("DATASET.NUM_SHOTS differs between the runs of this table: 2 (DTD seed 1), "
            "16 (DTD seed 2).") in out
    assert row(out, "DTD") == ["–", "–", "–", "0/2"]
    reason = ("mixed configs: these seeds are different experiments "
              "(DATASET.NUM_SHOTS: 2 (seed 1), 16 (seed 2)); none of them is averaged.")
    root = runs.root("mixed")
    assert "Refused, not averaged (4):" in out
    for step in (B2N_TRAIN, B2N_TEST):
        for seed in (1, 2):
            assert f"- {runs.b2n(root, step, seed)}: {reason}" in out


def test_parse_test_res_prints_each_seed_but_no_summary_for_different_experiments(runs, capsys):
    folder = osp.dirname(runs.b2n(runs.root("mixed"), B2N_TRAIN, 1))
    code = parse_test_res.main(parse_test_res.build_parser().parse_args([folder]))
    captured = capsys.readouterr()
    assert code == 1
    for seed in (1, 2):
        run_dir = runs.b2n(runs.root("mixed"), B2N_TRAIN, seed)
        value = accuracy(run_dir)
        assert f"file: {run_dir}/manifest.json. accuracy: {value:.2f}%. " in captured.out
    assert "Summary of directory" not in captured.out
    assert (f"Not averaged: {folder}: mixed configs: these seeds are different "
            "experiments (DATASET.NUM_SHOTS: 2 (seed 1), 16 (seed 2))") in captured.err


# --------------------------------------------------------------------------
# Observation: a failed run listed as "interrupted or failed"
# --------------------------------------------------------------------------
def test_failed_interrupted_and_partial_runs_are_listed_apart_with_their_reasons(runs, capsys):
    out = markdown(capsys, runs.output)
    table = block(out, "Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new (16 shots")
    b, n = accuracy(runs.z), accuracy(runs.z_test)
    assert row(table, "DTD") == [f"{b:.2f} ± 0.00", f"{n:.2f} ± 0.00", f"{hm(b, n):.2f}", "1/3"]
    seed3, seed4 = runs.b2n(runs.output, B2N_TRAIN, 3), runs.b2n(runs.output, B2N_TRAIN, 4)
    assert f"Failed runs (1):\n- {seed3}: {diverged(seed3)}" in table
    assert "The last good checkpoint" in table and "is kept." in table
    done = runs.seed4_epochs
    assert (f"Interrupted runs (1):\n- {seed4}: interrupted: Interrupted by SIGINT at epoch ") in table
    assert resume_advice(done) in table
    partial = runs.b2n(runs.output, B2N_TEST, 4)
    value = manifest(partial)["result"]["accuracy"]
    assert (f"Partial results, not averaged (1):\n- {partial}: partial result {value:.2f}%: "
            f"epoch {done} (a checkpoint of a model whose training is interrupted), evaluated "
            "on request (--load-epoch / LOADEP); not averaged.") in table
    missing = [runs.b2n(runs.output, B2N_TEST, seed) for seed in (3,)]
    assert f"Missing runs (1):\n- {missing[0]}: folder missing (never run)" in table
    assert "interrupted or failed" not in table and "no manifest.json" not in table


def test_the_runs_left_out_are_available_to_programs(runs):
    tables = results.collect_tables(runs.output)
    problems = results.problem_runs(tables)
    states = {(p.run_dir, p.state) for p in problems}
    assert states == {
        (runs.x_test, "mixed"),
        (runs.b2n(runs.output, B2N_TRAIN, 3), "failed"),
        (runs.b2n(runs.output, B2N_TEST, 3), "missing"),
        (runs.b2n(runs.output, B2N_TRAIN, 4), "interrupted"),
        (runs.b2n(runs.output, B2N_TEST, 4), "partial"),
    }
    [failed] = results.problem_runs(tables, "failed")
    assert failed.reason.startswith(diverged(failed.run_dir))


def test_parse_test_res_names_failed_and_interrupted_seeds(runs, capsys):
    folder = osp.dirname(runs.z)
    code = parse_test_res.main(parse_test_res.build_parser().parse_args([folder]))
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.endswith(f"===\nSummary of directory: {folder}\n"
                                 f"* accuracy: {accuracy(runs.z):.2f}% +- 0.00%\n===\n")
    seed3, seed4 = runs.b2n(runs.output, B2N_TRAIN, 3), runs.b2n(runs.output, B2N_TRAIN, 4)
    assert f"Not counted: {seed3}: {diverged(seed3)}" in captured.err
    assert f"Not counted: {seed4}: interrupted: Interrupted by SIGINT at epoch " in captured.err


# --------------------------------------------------------------------------
# Observation: parse_test_res.py on evaluations without --test-log
# --------------------------------------------------------------------------
def test_parse_test_res_reads_evaluations_without_test_log(runs):
    folder = osp.dirname(runs.z_test)
    process = subprocess.run([sys.executable, "parse_test_res.py", folder],
                             cwd=REPO, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    value = accuracy(runs.z_test)
    assert process.stdout == (
        f"Parsing files in {folder}\n"
        f"file: {runs.z_test}/manifest.json. accuracy: {value:.2f}%. \n"
        f"===\nSummary of directory: {folder}\n* accuracy: {value:.2f}% +- 0.00%\n===\n"
    )
    partial = runs.b2n(runs.output, B2N_TEST, 4)
    assert f"Not counted: {partial}: partial result " in process.stderr


def test_parse_test_res_without_manifests_says_test_log_for_each_folder(runs, capsys):
    legacy = runs.root("legacy")
    code = parse_test_res.main(parse_test_res.build_parser().parse_args([legacy]))
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    hint = ("its log holds the result of an --eval-only run ('=> result' without 'Finish "
            "training'): read it with --test-log")
    assert err[:2] == [f"Not counted: {osp.join(legacy, 'seed2')}: {hint}",
                       f"Not counted: {osp.join(legacy, 'seed4')}: {hint}"]
    code = parse_test_res.main(parse_test_res.build_parser().parse_args([legacy, "--test-log"]))
    captured = capsys.readouterr()
    assert code == 0
    # without manifests nothing tells the partial result apart: the logs' values
    assert "Note: 2 run folder(s) have no manifest.json" in captured.err
    assert captured.out.count("file: ") == 2
