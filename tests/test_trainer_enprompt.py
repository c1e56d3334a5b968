"""The EnPrompt and zero-shot trainers, in-process and through ``train.py``.

Data: a fake Describable Textures tree (6 classes, one colour per class) in
the real on-disk layout; CLIP: the tiny random model loaded through the
project's loader (``TRAINER.ENPROMPT.CLIP_WEIGHTS``).
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

import enprompt.model.text_features as text_features_module
import train
from enprompt.dassl import build_trainer, set_random_seed
from tests.fake_data import make_dtd

pytestmark = pytest.mark.usefixtures("torch_single_thread")

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE2NEW_CFG = osp.join(REPO, "configs", "trainers", "EnPrompt", "vit_b16_c4_ep5_batch4_base2new.yaml")
DTD_CFG = osp.join(REPO, "configs", "datasets", "dtd.yaml")


@pytest.fixture(scope="module")
def dtd_root(tmp_path_factory):
    """6 texture classes x 10 images: 5 train / 2 val / 3 test per class."""
    root = str(tmp_path_factory.mktemp("data"))
    make_dtd(root, n_classes=6, n_per_class=10, class_dependent=True)
    return root


def _argv(root, clip_path, output_dir, *opts, trainer="EnPrompt", extra=()):
    return [
        "--root", root, "--seed", "1", "--trainer", trainer,
        "--dataset-config-file", DTD_CFG, "--config-file", BASE2NEW_CFG,
        "--output-dir", output_dir, *extra,
        "DATASET.NUM_SHOTS", "4",
        "TRAINER.ENPROMPT.CLIP_WEIGHTS", clip_path,
        "DATALOADER.NUM_WORKERS", "0",
        *[str(o) for o in opts],
    ]


def make_trainer(root, clip_path, output_dir, *opts, trainer="EnPrompt"):
    """Build a trainer the way train.py does (same merge order), in-process."""
    args = train.build_parser().parse_args(_argv(root, clip_path, output_dir, *opts, trainer=trainer))
    cfg = train.setup_cfg(args)
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


def _learnable_snapshot(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.prompt_learner.state_dict().items()}


# ---------------------------------------------------------------- end to end


def _epoch_losses(log):
    """Average loss over each epoch, from the last log line of every epoch."""
    per_epoch = {}
    for match in re.finditer(r"epoch \[(\d+)/\d+\] batch \[\d+/\d+\] .*? loss [\d.]+ \(([\d.]+)\)", log):
        per_epoch[int(match.group(1))] = float(match.group(2))
    return [per_epoch[e] for e in sorted(per_epoch)]


def _accuracy(log):
    return float(re.search(r"=> result\n\* total: [\d,]+\n\* correct: [\d,]+\n\* accuracy: ([\d.]+)%", log).group(1))


def _run_train_py(argv):
    env = dict(os.environ, OMP_NUM_THREADS="1")  # see the torch_single_thread fixture
    result = subprocess.run(
        [sys.executable, "train.py", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_base_to_new_end_to_end(dtd_root, tiny_clip_path, tmp_path):
    """Train on base classes with the real base2new config, then evaluate the
    same checkpoint on new classes with --eval-only."""
    out = str(tmp_path / "train_base")
    log = _run_train_py(_argv(dtd_root, tiny_clip_path, out, "DATASET.SUBSAMPLE_CLASSES", "base"))
    assert "# classes  3" in log
    losses = _epoch_losses(log)
    assert len(losses) == 5
    assert losses[-1] < 0.9 * losses[0], f"loss did not fall: {losses}"
    assert _accuracy(log) > 60.0  # 3 base classes: chance is 33%

    checkpoint = torch.load(osp.join(out, "prompt_learner", "model.pth.tar-5"), weights_only=True)
    learnable_roots = ("enla", "visual_prompts", "sf_projection")
    assert all(k.split(".")[0] in learnable_roots for k in checkpoint["state_dict"])

    new_log = _run_train_py(
        _argv(dtd_root, tiny_clip_path, str(tmp_path / "test_new"), "DATASET.SUBSAMPLE_CLASSES", "new",
              extra=["--eval-only", "--model-dir", out, "--load-epoch", "5"])
    )
    checkpoint_path = osp.join(out, "prompt_learner", "model.pth.tar-5")
    assert f'Loading weights to prompt_learner from "{checkpoint_path}" (epoch = 5)' in new_log
    assert "# classes  3" in new_log
    block = re.search(
        r"=> result\n\* total: 9\n\* correct: \d+\n\* accuracy: [\d.]+%\n\* error: [\d.]+%\n\* macro_f1: [\d.]+%",
        new_log,
    )
    assert block is not None, new_log[-2000:]


# ---------------------------------------------------------------- in-process


def test_what_the_trainer_registers_and_learns(dtd_root, tiny_clip_path, tmp_path):
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
                           "TRAINER.ENPROMPT.PREC", "fp32")
    assert trainer.get_model_names() == ["prompt_learner"]
    assert trainer._models["prompt_learner"] is trainer.model.prompt_learner
    optim_params = {id(p) for group in trainer.optim.param_groups for p in group["params"]}
    assert optim_params == {id(p) for p in trainer.model.prompt_learner.parameters()}
    frozen_before = {k: v.clone() for k, v in trainer.model.image_encoder.state_dict().items()}
    learnable_before = _learnable_snapshot(trainer)
    trainer.train()
    for k, v in trainer.model.image_encoder.state_dict().items():
        assert torch.equal(v, frozen_before[k]), k
    changed = [
        k for k, v in trainer.model.prompt_learner.state_dict().items() if not torch.equal(v, learnable_before[k])
    ]
    assert sorted(changed) == sorted(learnable_before)


def test_text_encoder_once_and_text_side_once_per_test_run(dtd_root, tiny_clip_path, tmp_path, monkeypatch):
    encodings = []
    real_encode = text_features_module.encode_class_text_features

    def counting_encode(*args, **kwargs):
        encodings.append(1)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(text_features_module, "encode_class_text_features", counting_encode)
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 2,
                           "TRAINER.ENPROMPT.PREC", "fp32", "DATALOADER.TEST.BATCH_SIZE", 2,
                           "DATASET.SUBSAMPLE_CLASSES", "base")
    assert len(encodings) == 1
    text_calls, text_side_runs, lr_updates = [], [], []
    trainer.model.text_encoder.clip_model.transformer.register_forward_hook(lambda *a: text_calls.append(1))
    trainer.model.prompt_learner.register_forward_hook(lambda *a: text_side_runs.append(1))
    real_update_lr = trainer.update_lr
    monkeypatch.setattr(trainer, "update_lr", lambda *a, **k: (lr_updates.append(1), real_update_lr(*a, **k)))

    trainer.train()  # 2 epochs x 3 batches, then the final test (5 batches of 2)
    assert len(trainer.test_loader) == 5
    assert text_calls == [] and len(encodings) == 1
    assert len(text_side_runs) == 2 * 3 + 1  # once per training step, once for the whole test
    assert len(lr_updates) == 2  # once per epoch, after its last batch

    trainer.test()
    trainer.test()
    assert len(text_side_runs) == 2 * 3 + 1  # nothing changed: cached result reused
    assert text_calls == [] and len(encodings) == 1


def test_trains_without_ot_and_without_strengthening(dtd_root, tiny_clip_path, tmp_path):
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 2,
                           "TRAINER.ENPROMPT.PREC", "fp32",
                           "TRAINER.ENPROMPT.OT.ENABLE", False, "TRAINER.ENPROMPT.SF.ENABLE", False)
    assert trainer.model.ot_loss is None and trainer.model.prompt_learner.sf_projection is None
    before = _learnable_snapshot(trainer)
    summaries = []
    real_forward_backward = trainer.forward_backward
    trainer.forward_backward = lambda batch: summaries.append(real_forward_backward(batch)) or summaries[-1]
    trainer.train()
    assert summaries and all(s["loss_ot"] == 0.0 and s["loss"] == s["loss_ce"] for s in summaries)
    after = trainer.model.prompt_learner.state_dict()
    assert not torch.equal(after["visual_prompts"], before["visual_prompts"])
    assert not torch.equal(after["enla.up.weight"], before["enla.up.weight"])


@pytest.mark.parametrize("prec", ["fp32", "amp", "bf16"])
def test_precisions_run_on_cpu(dtd_root, tiny_clip_path, tmp_path, capsys, prec):
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
                           "DATASET.NUM_SHOTS", 2, "TRAINER.ENPROMPT.PREC", prec)
    assert trainer.precision == prec
    visual = trainer.model.image_encoder.visual
    expected_dtype = torch.bfloat16 if prec == "bf16" else torch.float32
    assert visual.conv1.weight.dtype == expected_dtype
    assert all(p.dtype == torch.float32 for p in trainer.model.prompt_learner.parameters())
    trainer.train()
    out = capsys.readouterr().out
    assert re.search(r"loss [\d.]+ \(", out)
    assert "* accuracy:" in out
    assert "Warning" not in out


def test_fp16_falls_back_to_fp32_on_cpu_with_one_warning(dtd_root, tiny_clip_path, tmp_path, capsys):
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
                           "DATASET.NUM_SHOTS", 2, "TRAINER.ENPROMPT.PREC", "fp16")
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "fp16" in line and "Warning" in line]
    assert len(warnings) == 1, out
    assert "fp32" in warnings[0]
    assert trainer.precision == "fp32"
    assert trainer.model.image_encoder.visual.conv1.weight.dtype == torch.float32


# ---------------------------------------------------------------- load_model


@pytest.fixture(scope="module")
def trained_dir(dtd_root, tiny_clip_path, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("trained"))
    trainer = make_trainer(dtd_root, tiny_clip_path, out, "OPTIM.MAX_EPOCH", 2, "TRAINER.ENPROMPT.PREC", "fp32",
                           "DATASET.SUBSAMPLE_CLASSES", "base")
    trainer.train()
    return out, {k: v.clone() for k, v in trainer.model.prompt_learner.state_dict().items()}


def test_load_base_checkpoint_into_new_classes(dtd_root, tiny_clip_path, tmp_path, trained_dir, capsys):
    out, trained_state = trained_dir
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "TRAINER.ENPROMPT.PREC", "fp32",
                           "DATASET.SUBSAMPLE_CLASSES", "new")
    assert trainer.model.classnames == ["bubbly", "bumpy", "chequered"]
    trainer.load_model(out, epoch=2)
    path = osp.join(out, "prompt_learner", "model.pth.tar-2")
    assert f'Loading weights to prompt_learner from "{path}" (epoch = 2)' in capsys.readouterr().out
    for k, v in trainer.model.prompt_learner.state_dict().items():
        assert torch.equal(v, trained_state[k]), k
    assert 0.0 <= trainer.test() <= 100.0


def test_load_model_errors(dtd_root, tiny_clip_path, tmp_path, trained_dir):
    out, _ = trained_dir
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path / "o"), "TRAINER.ENPROMPT.PREC", "fp32")
    trainer.load_model("")  # nothing to load: allowed (zero-shot style evaluation)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trainer.load_model(str(tmp_path / "missing"), epoch=2)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        trainer.load_model(str(empty), epoch=2)
    with pytest.raises(FileNotFoundError, match=r"model\.pth\.tar-2.*--load-epoch"):
        trainer.load_model(out, epoch=7)
    with pytest.raises(FileNotFoundError, match="model-best"):
        trainer.load_model(out)  # no best-val model in a last-step run

    other = make_trainer(dtd_root, tiny_clip_path, str(tmp_path / "p"), "TRAINER.ENPROMPT.PREC", "fp32",
                         "TRAINER.ENPROMPT.N_CTX_VISION", 2)
    before = _learnable_snapshot(other)
    with pytest.raises(ValueError, match=r"visual_prompts: checkpoint \(9, 4, 64\) vs model \(9, 2, 64\)"):
        other.load_model(out, epoch=2)
    after = other.model.prompt_learner.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)  # nothing half-loaded


# ---------------------------------------------------------------- zero-shot


@pytest.mark.parametrize("name,n_templates", [("ZeroshotCLIP", 1), ("ZeroshotCLIP2", 8)])
def test_zero_shot_trainers_eval_only(dtd_root, tiny_clip_path, tmp_path, name, n_templates):
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path), "TRAINER.ENPROMPT.PREC", "fp32",
                           trainer=name)
    assert len(trainer.model.text_encoder.templates) == n_templates
    assert trainer.get_model_names() == []
    trainer.load_model("", epoch=None)
    accuracy = trainer.test()
    assert 0.0 <= accuracy <= 100.0


def test_zero_shot_equals_enprompt_without_learning(dtd_root, tiny_clip_path, tmp_path):
    """EnPrompt at init without visual prompts is exactly zero-shot CLIP."""
    zs = make_trainer(dtd_root, tiny_clip_path, str(tmp_path / "zs"), "TRAINER.ENPROMPT.PREC", "fp32",
                      trainer="ZeroshotCLIP")
    ep = make_trainer(dtd_root, tiny_clip_path, str(tmp_path / "ep"), "TRAINER.ENPROMPT.PREC", "fp32",
                      "TRAINER.ENPROMPT.N_CTX_VISION", 0, "TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0,
                      "TRAINER.ENPROMPT.SF.ENABLE", False)
    batch = next(iter(zs.test_loader))
    with torch.no_grad():
        assert torch.allclose(zs.model_inference(batch["img"]), ep.model_inference(batch["img"]), atol=1e-4)


def test_checkpoint_of_another_backbone_or_trainer_is_refused_by_name(
    dtd_root, tiny_clip_path, tmp_path, trained_dir
):
    import shutil

    out, _ = trained_dir
    trainer = make_trainer(dtd_root, tiny_clip_path, str(tmp_path / "o"), "TRAINER.ENPROMPT.PREC", "fp32")
    for key, other in (("backbone", "ViT-B/32"), ("trainer", "MaPLe")):
        copy = tmp_path / f"copy_{key}"
        shutil.copytree(out, copy)
        path = copy / "prompt_learner" / "model.pth.tar-2"
        ckpt = torch.load(path, weights_only=True)
        assert ckpt["meta"] == {"trainer": "EnPrompt", "backbone": "ViT-B/16"}
        ckpt["meta"][key] = other
        torch.save(ckpt, path)
        with pytest.raises(ValueError, match=f"trained with {key} '{other}'"):
            trainer.load_model(str(copy), epoch=2)
