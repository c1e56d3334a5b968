"""Reliability: interrupted runs, determinism, untrusted files, bad inputs, nothing lost.

Each test here is listed in docs/RELIABILITY.md with the case it covers.
The runs go through ``train.py`` in a subprocess, as a user's job does.
"""
import glob
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from tests.child_process import child_env, kill_after_first_checkpoint, run_train_py
from tests.comparisons import assert_same
from tests.fake_data import make_dtd
from tests.log_patterns import final_result
from tests.paths import REPO
from tests.train_py import dtd_argv, main_in_process, train_argv

EPOCHS = 12

ENGINES = [
    pytest.param("builtin", id="builtin-engine"),
    pytest.param("dassl", id="real-dassl", marks=pytest.mark.skipif(
        importlib.util.find_spec("dassl") is None,
        reason="Dassl.pytorch is not installed, so only the built-in engine can be run",
    )),
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("reliability_data"))
    make_dtd(root, n_classes=4, n_per_class=12, class_dependent=True, image_size=32)
    return root


def _train_argv(root, out, clip, seed=1, *opts):
    """The reliability runs: 12 epochs on the base classes, one loader worker."""
    return dtd_argv(root, clip, out, "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.ENPROMPT.PREC", "fp32",
                    "OPTIM.MAX_EPOCH", EPOCHS, "DATALOADER.NUM_WORKERS", 1, "DATALOADER.TEST.BATCH_SIZE", 16,
                    *opts, seed=seed)


def _run(argv, engine="builtin", check=True, **env):
    return run_train_py(argv, env=child_env(engine, **env), check=check)


def _final_weights(out):
    ckpt = torch.load(osp.join(out, "prompt_learner", f"model.pth.tar-{EPOCHS}"), weights_only=True)
    return ckpt["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(data_root, tiny_clip_path, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("uninterrupted"))
    log = _run(_train_argv(data_root, out, tiny_clip_path)).stdout
    return out, log


@pytest.mark.parametrize("engine", ENGINES)
def test_killed_run_resumes_to_the_same_result(engine, data_root, tiny_clip_path, uninterrupted, tmp_path):
    ref_out, ref_log = uninterrupted
    out = str(tmp_path / "killed")
    argv = _train_argv(data_root, out, tiny_clip_path)
    killed_at = kill_after_first_checkpoint([sys.executable, "train.py", *argv], out, env=child_env(engine))
    assert 1 <= killed_at < EPOCHS, "the run finished before it could be killed"

    rerun = _run(argv, engine).stdout
    assert f"Previous epoch: {killed_at}" in rerun
    assert "epoch [1/" not in rerun
    # Same final accuracy and the very same learned weights as the uninterrupted run.
    assert final_result(rerun) == final_result(ref_log)
    assert_same(_final_weights(ref_out), _final_weights(out))
    # The folder ends as Dassl leaves it: the last epoch only.
    assert sorted(os.listdir(osp.join(out, "prompt_learner"))) == ["checkpoint", f"model.pth.tar-{EPOCHS}"]


def test_same_seed_same_results_different_seed_other_samples(data_root, tiny_clip_path, uninterrupted, tmp_path):
    _, ref_log = uninterrupted
    again = _run(_train_argv(data_root, str(tmp_path / "again"), tiny_clip_path)).stdout
    assert final_result(again) == final_result(ref_log)

    fewshot = osp.join(data_root, "dtd", "split_fewshot")
    for seed in (0, 2):  # --no-train: build the trainer (and its few-shot samples) only
        _run(["--no-train", *_train_argv(data_root, str(tmp_path / f"seed{seed}"), tiny_clip_path, seed)])
    with open(osp.join(fewshot, "shot_4-seed_1.json")) as f1, \
            open(osp.join(fewshot, "shot_4-seed_2.json")) as f2:
        assert f1.read() != f2.read()
    assert osp.isfile(osp.join(fewshot, "shot_4-seed_0.json"))  # --seed 0 is a real seed
    with open(glob.glob(str(tmp_path / "seed0" / "log.txt"))[0]) as f:
        assert re.search(r"^SEED: 0$", f.read(), re.M)  # the config dump in the log


def test_checkpoint_carrying_code_is_refused_at_eval(data_root, tiny_clip_path, tmp_path):
    model_dir = tmp_path / "evil"
    (model_dir / "prompt_learner").mkdir(parents=True)
    payload = "import os\nclass P:\n    def __reduce__(self):\n        return (os.system, ('touch HACKED',))\n"
    code = (f"{payload}import torch\ntorch.save({{'state_dict': {{}}, 'epoch': 1, 'x': P()}}, "
            f"{str(model_dir / 'prompt_learner' / 'model.pth.tar-1')!r})")
    subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), check=True)
    result = _run(train_argv(
        "DATASET.SUBSAMPLE_CLASSES", "new", "DATALOADER.NUM_WORKERS", 0, root=data_root,
        output_dir=str(tmp_path / "eval"), clip_weights=tiny_clip_path,
        flags=["--eval-only", "--model-dir", str(model_dir), "--load-epoch", "1"],
    ), check=False)
    assert result.returncode == 2
    assert "Refusing to load" in result.stderr and "system" in result.stderr
    assert not list(tmp_path.rglob("HACKED")) and not osp.exists(osp.join(REPO, "HACKED"))


@pytest.mark.parametrize("opts, key", [
    (["OPTIM.MAX_EPOCH", "0"], "OPTIM.MAX_EPOCH"),
    (["DATALOADER.TRAIN_X.BATCH_SIZE", "0"], "DATALOADER.TRAIN_X.BATCH_SIZE"),
    (["TRAINER.ENPROMPT.PREC", "fp8"], "TRAINER.ENPROMPT.PREC"),
    (["DATASET.SUBSAMPLE_CLASSES", "novel"], "DATASET.SUBSAMPLE_CLASSES"),
    (["TRAINER.ENPROMPT.OT.EPS", "0.0"], "TRAINER.ENPROMPT.OT.EPS"),
    (["TRAINER.ENPROMPT.N_CTX", "4"], "TRAINER.ENPROMPT.N_CTX"),
    (["OPTIM.LR", "fast"], "OPTIM.LR"),
    (["OPTIM.LR", "1e999"], "OPTIM.LR"),  # inf
])
def test_bad_config_fails_before_any_work(opts, key, data_root, tiny_clip_path, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=re.escape(key)):
        main_in_process(_train_argv(data_root, str(out), tiny_clip_path, 1, *opts), monkeypatch)
    assert not out.exists()  # no log, no checkpoint: nothing was started


def _corrupt_one_training_image(root):
    from tests.fake_data import read_dataset

    path = read_dataset(root, "DescribableTextures", seed=1).train_x[0].impath  # writes the split
    with open(path, "wb") as f:
        f.write(b"\xff\xd8 this is not a jpeg")
    return path


def test_unreadable_image_is_named_or_skipped_with_a_count(tiny_clip_path, tmp_path):
    root = str(tmp_path / "data")
    make_dtd(root, n_classes=2, n_per_class=8, class_dependent=True, image_size=16)
    bad = _corrupt_one_training_image(root)
    opts = ["DATASET.NUM_SHOTS", "-1", "DATASET.SUBSAMPLE_CLASSES", "all", "OPTIM.MAX_EPOCH", "2",
            "DATALOADER.NUM_WORKERS", "0"]
    failed = _run(_train_argv(root, str(tmp_path / "a"), tiny_clip_path, 1, *opts), check=False)
    assert failed.returncode == 2
    assert f'Cannot read image "{bad}"' in failed.stderr and "SKIP_BAD_IMAGES" in failed.stderr

    for name, filters in (("b", ""), ("c", "ignore")):  # not lost under PYTHONWARNINGS=ignore
        out = tmp_path / name
        skipped = _run(_train_argv(root, str(out), tiny_clip_path, 1, *opts,
                                   "DATALOADER.SKIP_BAD_IMAGES", "True"), PYTHONWARNINGS=filters)
        log = (out / "log.txt").read_text()
        for text in (skipped.stderr, log):  # on the console and in the log the user archives
            assert re.search(r"Warning: Skipped 1 unreadable image\(s\) \((train|val|test): 1\)", text)
            assert bad in text
        assert skipped.stderr.count("Skipped 1 unreadable") == 1
        assert "=> result" in skipped.stdout


def test_nan_loss_stops_with_terms_and_keeps_last_good_checkpoint(data_root, tiny_clip_path, tmp_path, monkeypatch):
    """A loss term turning NaN in epoch 3 stops the run; epoch 2's checkpoint stays."""
    from enprompt.model import EnPromptCLIP

    from trainers.enprompt import EnPrompt

    original_forward, original_before_epoch = EnPromptCLIP.forward, EnPrompt.before_epoch
    current = {"epoch": 0}

    def before_epoch(self):
        current["epoch"] = self.epoch
        original_before_epoch(self)

    def forward(self, images, labels=None):
        output = original_forward(self, images, labels)
        if labels is not None and current["epoch"] == 2:  # from the first batch of epoch 3
            output["loss_ot"] = output["loss_ot"] * float("nan")
            output["loss"] = output["loss_ce"] + output["loss_ot"]
        return output

    monkeypatch.setattr(EnPrompt, "before_epoch", before_epoch)
    monkeypatch.setattr(EnPromptCLIP, "forward", forward)
    out = str(tmp_path / "nan")
    with pytest.raises(FloatingPointError) as info:
        main_in_process(_train_argv(data_root, out, tiny_clip_path) + ["DATALOADER.NUM_WORKERS", "0"], monkeypatch)
    message = str(info.value)
    assert re.search(r"at epoch 3/12, batch 1/\d+ \(loss = nan, loss_ce = [\d.]+, loss_ot = nan\)", message)
    assert "model.pth.tar-2" in message
    assert sorted(os.listdir(osp.join(out, "prompt_learner"))) == ["checkpoint", "model.pth.tar-2"]


def test_rerun_of_finished_run_skips_and_touches_nothing(data_root, tiny_clip_path, uninterrupted, tmp_path):
    ref_out, _ = uninterrupted
    out = str(tmp_path / "copy")
    import shutil

    shutil.copytree(ref_out, out)
    model = osp.join(out, "prompt_learner", f"model.pth.tar-{EPOCHS}")
    with open(osp.join(out, "log.txt")) as f:
        first_log = f.read()
    with open(model, "rb") as f:
        first_model = f.read()

    before = sorted(os.listdir(out))
    rerun = _run(_train_argv(data_root, out, tiny_clip_path)).stdout
    assert f"The results exist at {out} (so skip this job)" in rerun  # nothing retrained
    with open(osp.join(out, "log.txt")) as f:
        assert f.read() == first_log
    with open(model, "rb") as f:
        assert f.read() == first_model
    assert sorted(os.listdir(out)) == before  # no new log, no file touched
