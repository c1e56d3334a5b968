"""The EnPrompt and zero-shot trainers, in-process and through ``train.py``.

Data: a fake Describable Textures tree (6 classes, one colour per class) in
the real on-disk layout; CLIP: the tiny random model loaded through the
project's loader (``TRAINER.ENPROMPT.CLIP_WEIGHTS``).
"""
import os
import os.path as osp
import re

import clip
import pytest
import torch
import torch.nn.functional as F

import enprompt.model.text_features as text_features_module
from enprompt.clip_loader import load_clip
from tests.child_process import run_train_py
from tests.comparisons import assert_same, state_copy
from tests.fake_data import make_dtd
from tests.log_patterns import epoch_losses, final_result
from tests.train_py import dtd_argv, dtd_trainer
from tests.trainer_tools import logits_on_test_set, record_results, top1_accuracy, train_until_killed

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def dtd_root(tmp_path_factory):
    """6 texture classes x 10 images: 5 train / 2 val / 3 test per class."""
    root = str(tmp_path_factory.mktemp("data"))
    make_dtd(root, n_classes=6, n_per_class=10, class_dependent=True)
    return root


# ---------------------------------------------------------------- end to end


def test_base_to_new_end_to_end(dtd_root, tiny_clip_path, tmp_path):
    """Train on base classes with the real base2new config, then evaluate the
    same checkpoint on new classes with --eval-only."""
    out = str(tmp_path / "train_base")
    log = run_train_py(dtd_argv(dtd_root, tiny_clip_path, out, "DATASET.SUBSAMPLE_CLASSES", "base")).stdout
    assert "# classes  3" in log
    losses = epoch_losses(log)
    assert len(losses) == 5
    assert losses[-1] < 0.9 * losses[0], f"loss did not fall: {losses}"
    assert final_result(log)["accuracy"] > 60.0  # 3 base classes: chance is 33%

    checkpoint = torch.load(osp.join(out, "prompt_learner", "model.pth.tar-5"), weights_only=True)
    learnable_roots = ("enla", "visual_prompts", "sf_projection")
    assert all(k.split(".")[0] in learnable_roots for k in checkpoint["state_dict"])

    new_log = run_train_py(
        dtd_argv(dtd_root, tiny_clip_path, str(tmp_path / "test_new"), "DATASET.SUBSAMPLE_CLASSES", "new",
                 flags=["--eval-only", "--model-dir", out, "--load-epoch", "5"])
    ).stdout
    checkpoint_path = osp.join(out, "prompt_learner", "model.pth.tar-5")
    assert f'Loading weights to prompt_learner from "{checkpoint_path}" (epoch = 5)' in new_log
    assert "# classes  3" in new_log
    assert final_result(new_log)["total"] == 9, new_log[-2000:]


# ---------------------------------------------------------------- in-process


def test_what_the_trainer_registers_and_learns(dtd_root, tiny_clip_path, tmp_path):
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
                          "TRAINER.ENPROMPT.PREC", "fp32")
    assert trainer.get_model_names() == ["prompt_learner"]
    assert trainer._models["prompt_learner"] is trainer.model.prompt_learner
    optim_params = {id(p) for group in trainer.optim.param_groups for p in group["params"]}
    assert optim_params == {id(p) for p in trainer.model.prompt_learner.parameters()}
    frozen_before = state_copy(trainer.model.image_encoder)
    learnable_before = state_copy(trainer.model.prompt_learner)
    trainer.train()
    assert_same(frozen_before, trainer.model.image_encoder.state_dict())
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
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 2,
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
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 2,
                          "TRAINER.ENPROMPT.PREC", "fp32",
                          "TRAINER.ENPROMPT.OT.ENABLE", False, "TRAINER.ENPROMPT.SF.ENABLE", False)
    assert trainer.model.ot_loss is None and trainer.model.prompt_learner.sf_projection is None
    before = state_copy(trainer.model.prompt_learner)
    summaries = record_results(trainer, "forward_backward")
    trainer.train()
    assert summaries and all(s["loss_ot"] == 0.0 and s["loss"] == s["loss_ce"] for s in summaries)
    after = trainer.model.prompt_learner.state_dict()
    assert not torch.equal(after["visual_prompts"], before["visual_prompts"])
    assert not torch.equal(after["enla.up.weight"], before["enla.up.weight"])


@pytest.mark.parametrize("prec", ["fp32", "amp", "bf16"])
def test_precisions_run_on_cpu(dtd_root, tiny_clip_path, tmp_path, capsys, prec):
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
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
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "OPTIM.MAX_EPOCH", 1,
                          "DATASET.NUM_SHOTS", 2, "TRAINER.ENPROMPT.PREC", "fp16")
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "fp16" in line and "Warning" in line]
    assert len(warnings) == 1, out
    assert "fp32" in warnings[0]
    assert trainer.precision == "fp32"
    assert trainer.model.image_encoder.visual.conv1.weight.dtype == torch.float32


# ---------------------------------------------------------------- load_model


TRAINED_OPTS = ("OPTIM.MAX_EPOCH", 2, "TRAINER.ENPROMPT.PREC", "fp32", "DATASET.SUBSAMPLE_CLASSES", "base")


@pytest.fixture(scope="module")
def trained_dir(dtd_root, tiny_clip_path, tmp_path_factory):
    """An uninterrupted 2-epoch base-class run: (output dir, learned weights)."""
    out = str(tmp_path_factory.mktemp("trained"))
    trainer = dtd_trainer(dtd_root, tiny_clip_path, out, *TRAINED_OPTS)
    trainer.train()
    return out, state_copy(trainer.model.prompt_learner)


def test_load_base_checkpoint_into_new_classes(dtd_root, tiny_clip_path, tmp_path, trained_dir, capsys):
    out, trained_state = trained_dir
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "TRAINER.ENPROMPT.PREC", "fp32",
                          "DATASET.SUBSAMPLE_CLASSES", "new")
    assert trainer.model.classnames == ["bubbly", "bumpy", "chequered"]
    trainer.test()  # evaluate the untrained model first: nothing of it may survive the load
    trainer.load_model(out, epoch=2)
    path = osp.join(out, "prompt_learner", "model.pth.tar-2")
    assert f'Loading weights to prompt_learner from "{path}" (epoch = 2)' in capsys.readouterr().out
    assert_same(trained_state, trainer.model.prompt_learner.state_dict())
    accuracy = trainer.test()

    # Reference: a model built for the new classes that never evaluated
    # anything, with the checkpoint's weights put in by hand.
    reference = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "ref"), "TRAINER.ENPROMPT.PREC", "fp32",
                            "DATASET.SUBSAMPLE_CLASSES", "new")
    reference.model.prompt_learner.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    expected_logits, labels = logits_on_test_set(reference)
    logits, same_labels = logits_on_test_set(trainer)
    assert torch.equal(labels, same_labels) and len(labels) == 9  # 3 new classes x 3 test images
    assert logits.shape == (9, 3)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=1e-5)
    assert accuracy == pytest.approx(top1_accuracy(expected_logits, labels), abs=1e-9)


def test_load_model_errors(dtd_root, tiny_clip_path, tmp_path, trained_dir, capsys):
    out, _ = trained_dir
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "o"), "TRAINER.ENPROMPT.PREC", "fp32")
    untouched = state_copy(trainer.model.prompt_learner)
    capsys.readouterr()
    trainer.load_model("")  # nothing to load: allowed (zero-shot style evaluation), and said so
    assert "load_model() is skipped" in capsys.readouterr().out
    assert_same(untouched, trainer.model.prompt_learner.state_dict())
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

    other = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "p"), "TRAINER.ENPROMPT.PREC", "fp32",
                        "TRAINER.ENPROMPT.N_CTX_VISION", 2)
    before = state_copy(other.model.prompt_learner)
    with pytest.raises(ValueError, match=r"visual_prompts: checkpoint \(9, 4, 64\) vs model \(9, 2, 64\)"):
        other.load_model(out, epoch=2)
    assert_same(before, other.model.prompt_learner.state_dict())  # nothing half-loaded


# ---------------------------------------------------------------- resume and best-val


def test_resume_from_another_folder_gives_the_uninterrupted_result(
    dtd_root, tiny_clip_path, tmp_path, trained_dir, capsys
):
    """``--resume DIR`` continues the run whose checkpoints are in DIR and
    writes to another ``--output-dir``; the result is the uninterrupted run's."""
    reference_dir, _ = trained_dir
    first_job = str(tmp_path / "first_job")
    killed = dtd_trainer(dtd_root, tiny_clip_path, first_job, *TRAINED_OPTS)
    train_until_killed(killed, in_epoch=1)  # right after epoch 1's checkpoint
    killed.close_writer()
    first_folder = osp.join(first_job, "prompt_learner")
    assert sorted(os.listdir(first_folder)) == ["checkpoint", "model.pth.tar-1"]
    first_files = {name: open(osp.join(first_folder, name), "rb").read() for name in os.listdir(first_folder)}

    second_job = str(tmp_path / "second_job")
    capsys.readouterr()
    resumed = dtd_trainer(dtd_root, tiny_clip_path, second_job, *TRAINED_OPTS, flags=["--resume", first_job])
    assert resumed.cfg.RESUME == first_job and resumed.cfg.OUTPUT_DIR == second_job
    resumed.train()
    log = capsys.readouterr().out
    assert f"Found checkpoint at {first_job}" in log
    assert f'Loading checkpoint from "{osp.join(first_folder, "model.pth.tar-1")}"' in log
    assert "Previous epoch: 1" in log
    assert "epoch [1/2]" not in log and "epoch [2/2]" in log

    # The second job writes only to its own folder, as Dassl leaves a finished run ...
    assert sorted(os.listdir(osp.join(second_job, "prompt_learner"))) == ["checkpoint", "model.pth.tar-2"]
    assert {name: open(osp.join(first_folder, name), "rb").read() for name in os.listdir(first_folder)} == first_files
    # ... and ends exactly where the uninterrupted run ended: weights, optimiser
    # (momentum), scheduler and the torch random stream.
    expected = torch.load(osp.join(reference_dir, "prompt_learner", "model.pth.tar-2"), weights_only=True)
    got = torch.load(osp.join(second_job, "prompt_learner", "model.pth.tar-2"), weights_only=True)
    for key in ("state_dict", "optimizer", "scheduler", "epoch", "meta"):
        assert_same(expected[key], got[key], key)
    assert_same(expected["rng_state"]["torch"], got["rng_state"]["torch"], "rng_state.torch")


def test_final_model_best_val_deploys_the_best_validation_epoch(dtd_root, tiny_clip_path, tmp_path, capsys):
    """``TEST.FINAL_MODEL best_val`` (Dassl's): after every epoch the model is
    evaluated on val; ``model-best.pth.tar`` is written when val improves
    (strictly), and the final test runs on its weights."""
    out = str(tmp_path / "run")
    trainer = dtd_trainer(dtd_root, tiny_clip_path, out, "OPTIM.MAX_EPOCH", 4, "TEST.FINAL_MODEL", "best_val",
                          "TRAINER.ENPROMPT.PREC", "fp32", "DATASET.SUBSAMPLE_CLASSES", "base")
    folder = osp.join(out, "prompt_learner")
    best_path = osp.join(folder, "model-best.pth.tar")

    evaluations = []  # one dict per test() call: split, logits of every batch, accuracy
    real_test, real_inference, real_after_epoch = trainer.test, trainer.model_inference, trainer.after_epoch

    def recording_test(split=None):
        evaluations.append({"split": split or "test", "logits": []})
        evaluations[-1]["accuracy"] = real_test(split=split)
        return evaluations[-1]["accuracy"]

    def recording_inference(input):
        output = real_inference(input)
        evaluations[-1]["logits"].append(output)
        return output

    best_after_epoch = []  # (epoch, val_result) of model-best.pth.tar after each epoch

    def recording_after_epoch():
        real_after_epoch()
        best = torch.load(best_path, weights_only=True)
        best_after_epoch.append((best["epoch"], best["val_result"]))

    trainer.test, trainer.model_inference = recording_test, recording_inference
    trainer.after_epoch = recording_after_epoch
    capsys.readouterr()
    trainer.train()
    log = capsys.readouterr().out

    assert [e["split"] for e in evaluations] == ["val"] * 4 + ["test"]
    val = [e["accuracy"] for e in evaluations[:4]]
    expected_best = []
    for epoch in range(1, 5):
        best_epoch = 1 + val.index(max(val[:epoch]))  # first epoch reaching the maximum so far
        expected_best.append((best_epoch, max(val[:epoch])))
    assert best_after_epoch == expected_best, f"val accuracies {val}"
    # The seeded run exercises both branches: val improves after epoch 1, and
    # the last epoch is not the best, so deploying model-best changes the model.
    assert len({epoch for epoch, _ in expected_best}) >= 2 and expected_best[-1][0] < 4, f"val accuracies {val}"

    assert "Deploy the model with the best val performance" in log
    assert sorted(os.listdir(folder)) == ["checkpoint", "model-best.pth.tar", "model.pth.tar-4"]
    best_state = torch.load(best_path, weights_only=True)["state_dict"]
    last_state = torch.load(osp.join(folder, "model.pth.tar-4"), weights_only=True)["state_dict"]
    deployed = trainer.model.prompt_learner.state_dict()
    assert_same(best_state, deployed, "deployed weights")
    assert not torch.equal(last_state["visual_prompts"], best_state["visual_prompts"])

    # The final test's logits are those of the best-val weights, loaded by hand
    # into a model that never trained.
    reference = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "ref"), "TRAINER.ENPROMPT.PREC", "fp32",
                            "DATASET.SUBSAMPLE_CLASSES", "base")
    reference.model.prompt_learner.load_state_dict(best_state)
    expected_logits, labels = logits_on_test_set(reference)
    torch.testing.assert_close(torch.cat(evaluations[-1]["logits"]), expected_logits, rtol=0, atol=1e-5)
    assert evaluations[-1]["accuracy"] == pytest.approx(top1_accuracy(expected_logits, labels), abs=1e-9)


# ---------------------------------------------------------------- zero-shot


def _zero_shot_clip_logits(clip_model, classnames, templates, images):
    """CoOp's zero-shot CLIP, written out with the clip package alone: per
    template normalised text features, averaged over templates, renormalised;
    logits = exp(logit_scale) * cosine."""
    with torch.no_grad():
        per_template = [
            F.normalize(clip_model.encode_text(clip.tokenize([t.format(c) for c in classnames])), dim=-1)
            for t in templates
        ]
        text = F.normalize(torch.stack(per_template).mean(dim=0), dim=-1)
        image = F.normalize(clip_model.encode_image(images), dim=-1)
        return clip_model.logit_scale.exp() * image @ text.t()


@pytest.mark.parametrize("name,n_templates", [("ZeroshotCLIP", 1), ("ZeroshotCLIP2", 8)])
def test_zero_shot_trainers_eval_only(dtd_root, tiny_clip_path, tmp_path, name, n_templates):
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path), "TRAINER.ENPROMPT.PREC", "fp32",
                          trainer=name)
    templates = trainer.model.text_encoder.templates
    assert len(templates) == n_templates and "{} texture." in templates  # CoOp's DTD template
    assert trainer.get_model_names() == []
    trainer.load_model("", epoch=None)
    accuracy = trainer.test()

    clip_model = load_clip("ViT-B/16", tiny_clip_path).float()
    logits, labels = logits_on_test_set(trainer)
    images = torch.cat([batch["img"] for batch in trainer.test_loader])
    expected = _zero_shot_clip_logits(clip_model, trainer.dm.dataset.classnames, templates, images)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)
    assert accuracy == pytest.approx(top1_accuracy(expected, labels), abs=1e-9)


def test_zero_shot_equals_enprompt_without_learning(dtd_root, tiny_clip_path, tmp_path):
    """EnPrompt at init without visual prompts is exactly zero-shot CLIP."""
    zs = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "zs"), "TRAINER.ENPROMPT.PREC", "fp32",
                     trainer="ZeroshotCLIP")
    ep = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "ep"), "TRAINER.ENPROMPT.PREC", "fp32",
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
    trainer = dtd_trainer(dtd_root, tiny_clip_path, str(tmp_path / "o"), "TRAINER.ENPROMPT.PREC", "fp32")
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
