"""The CUDA precision paths: fp16, amp and bf16 training, where memory goes, fp32 islands.

Every test here needs a CUDA device and is skipped without one (marker
``cuda``: ``python -m pytest -m cuda``; ``benchmarks/device_check.sh`` runs
them and fails if any is skipped on a CUDA machine). Each builds the tiny
random CLIP and, for the end-to-end run, a fake Describable Textures tree.

Tolerances, for the tiny CLIP (12 layers of width 64; logit scale 14.3),
against the same step in fp32 from the same weights and the same batch
(CLIP's native weights are fp16, so fp32 starts from exactly the same values):

* the first step's loss terms: relative 1e-2 for fp16 and amp, 5e-2 for bf16
  (8 significant bits). Measured with the same code on the CPU (its half and
  bfloat16 kernels): at most 1.1e-3 (fp16), 1.4e-4 (amp), 7.8e-3 (bf16).
* the gradient of each learnable tensor (the first finite one): cosine
  similarity with fp32's at least 0.999 (fp16, amp) and 0.99 (bf16);
  measured on the CPU: at least 0.999999 and 0.99984.
* the fp16 base-to-novel run through ``train.py``: base and new accuracy each
  within 2 test images of the fp32 run (11.2 points of 18 images).
"""
import gc
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from enprompt.clip_loader import load_clip
from enprompt.config import add_enprompt_config
from enprompt.dassl import build_optimizer, get_cfg_default
from enprompt.engine.torchtools import check_finite_loss
from enprompt.model import OTAlignmentLoss, autocast_for, build_enprompt_model, cast_clip_weights
from trainers.enprompt import enprompt_step
from tests.paths import BASE2NEW_CFG, DTD_CFG, REPO

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CLASSNAMES = ["canvas", "marble", "lace", "rust", "moss"]
LOSS_RTOL = {"fp16": 1e-2, "amp": 1e-2, "bf16": 5e-2}
GRAD_COSINE = {"fp16": 0.999, "amp": 0.999, "bf16": 0.99}
ACCURACY_TOLERANCE = 11.2  # points: 2 of the 18 test images


def build(clip_path, precision, device="cuda", *opts):
    """Config, model (learnables seeded) and optimizer, as the trainer builds them."""
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(BASE2NEW_CFG)
    cfg.DATASET.NAME = "DescribableTextures"
    cfg.merge_from_list(["TRAINER.ENPROMPT.PREC", precision, *opts])
    clip_model = cast_clip_weights(load_clip("ViT-B/16", clip_path), precision)
    torch.manual_seed(0)
    model = build_enprompt_model(cfg, clip_model, CLASSNAMES, device=device)
    optimizer = build_optimizer(model.prompt_learner, cfg.OPTIM)
    return cfg, model, optimizer


def batch(device="cuda", size=4, seed=1):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(size, 3, 224, 224, generator=generator)
    labels = torch.randint(0, len(CLASSNAMES), (size,), generator=generator)
    return images.to(device), labels.to(device)


def train_steps(model, optimizer, precision, images, labels, n):
    """``n`` trainer steps on one batch: their summaries, and the first finite gradients.

    Under amp, the ``GradScaler`` skips the first steps (its initial scale
    overflows float16, so their gradients are infinite) and leaves the
    parameters as they were, so the first finite gradients are those of the
    initial parameters, as the first step's are in the other precisions.
    """
    scaler = torch.amp.GradScaler(images.device.type) if precision == "amp" else None
    model.prompt_learner.train()
    summaries, first_grads = [], None
    for _ in range(n):
        summaries.append(enprompt_step(model, optimizer, scaler, images, labels, precision, check_finite_loss))
        grads = {k: p.grad.detach().float().clone() for k, p in model.prompt_learner.named_parameters()}
        if first_grads is None and all(torch.isfinite(g).all() for g in grads.values()):
            first_grads = grads
    return summaries, first_grads


def cosine(a, b):
    return F.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@pytest.mark.parametrize("precision", ["fp16", "amp", "bf16"])
def test_training_step_matches_fp32_and_learns(tiny_clip_path, precision):
    images, labels = batch()
    _, reference, reference_optim = build(tiny_clip_path, "fp32", "cuda", "OPTIM.LR", 0.5)
    _, model, optimizer = build(tiny_clip_path, precision, "cuda", "OPTIM.LR", 0.5)
    (reference_first, *_), reference_grads = train_steps(reference, reference_optim, "fp32", images, labels, 1)
    summaries, grads = train_steps(model, optimizer, precision, images, labels, 10)

    assert all(torch.isfinite(torch.tensor([s["loss"], s["loss_ce"], s["loss_ot"]])).all() for s in summaries)
    for name in ("loss", "loss_ce", "loss_ot"):
        assert summaries[0][name] == pytest.approx(reference_first[name], rel=LOSS_RTOL[precision]), name
    assert grads is not None, "no step with finite gradients"
    for key, grad in grads.items():
        if not reference_grads[key].any():  # EnLa's down-projection while its up-projection is still 0
            assert not grad.any(), key
            continue
        assert cosine(grad, reference_grads[key]) >= GRAD_COSINE[precision], key
    # ten steps on one batch at a high learning rate: the loss falls
    assert summaries[-1]["loss"] < 0.9 * summaries[0]["loss"], [s["loss"] for s in summaries]


@pytest.mark.parametrize("precision", ["fp16", "amp", "bf16"])
def test_learnables_stay_fp32(tiny_clip_path, precision):
    _, model, optimizer = build(tiny_clip_path, precision)
    train_steps(model, optimizer, precision, *batch(), n=8)  # amp: past the GradScaler's skipped steps
    visual = model.image_encoder.visual
    tower_dtype = {"fp16": torch.float16, "amp": torch.float32, "bf16": torch.bfloat16}[precision]
    assert visual.conv1.weight.dtype == tower_dtype and visual.conv1.weight.is_cuda
    for name, param in model.prompt_learner.named_parameters():
        assert param.dtype == torch.float32 and param.grad.dtype == torch.float32, name
        state = optimizer.state[param]
        assert state and all(v.dtype == torch.float32 for v in state.values() if torch.is_tensor(v)), name
    assert model.text_features.dtype == torch.float32


def _tensor_bytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def test_text_tower_returns_to_the_cpu_and_its_memory_is_released(tiny_clip_path):
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(BASE2NEW_CFG)
    cfg.DATASET.NAME = "DescribableTextures"
    # A first build, thrown away, so that what CUDA libraries allocate once and keep (cuBLAS's
    # workspace, ...) exists before the measured one.
    build_enprompt_model(cfg, load_clip("ViT-B/16", tiny_clip_path), CLASSNAMES, device="cuda")
    gc.collect()

    clip_model = load_clip("ViT-B/16", tiny_clip_path)  # native fp16, on the CPU
    text_modules = [clip_model.token_embedding, clip_model.transformer, clip_model.ln_final]
    text_bytes = _tensor_bytes(
        [p for m in text_modules for p in m.parameters()]
        + [clip_model.positional_embedding, clip_model.text_projection]
    )
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    model = build_enprompt_model(cfg, clip_model, CLASSNAMES, device="cuda")
    torch.cuda.synchronize()
    after = torch.cuda.memory_allocated()

    # the text encoder ran on the GPU ...
    assert torch.cuda.max_memory_allocated() - before >= text_bytes
    # ... and went back: its weights are on the CPU, and the GPU holds the image side only
    for module in text_modules:
        assert all(p.device.type == "cpu" for p in module.parameters())
    assert clip_model.positional_embedding.device.type == "cpu"
    resident = _tensor_bytes(list(model.parameters()) + list(model.buffers()))
    assert text_bytes > resident  # the tiny CLIP's text tower (token embedding) outweighs the image side
    rounding = 512 * (len(list(model.parameters())) + len(list(model.buffers())))  # the allocator's block size
    assert after - before <= resident + rounding + text_bytes // 4, (after - before, resident, text_bytes)
    # the caching allocator handed the text tower's blocks back to the driver
    assert torch.cuda.memory_reserved() < torch.cuda.max_memory_reserved()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_ot_loss_stays_fp32_under_autocast(dtype):
    generator = torch.Generator().manual_seed(0)
    image_features = torch.randn(4, 64, generator=generator).cuda().to(dtype).requires_grad_()
    text_features = torch.randn(4, 64, generator=generator).cuda().requires_grad_()
    loss_fn = OTAlignmentLoss(eps=0.1, n_iters=100)
    with torch.autocast("cuda", dtype=dtype):
        loss = loss_fn(image_features, text_features)
    reference = loss_fn(image_features.detach().float(), text_features.detach())
    assert loss.dtype == torch.float32
    # fp32 arithmetic: autocast's half matrix products would be about 1e-3 away
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6, abs=1e-7)
    loss.backward()
    assert image_features.grad.dtype == dtype and text_features.grad.dtype == torch.float32
    assert torch.isfinite(image_features.grad.float()).all() and torch.isfinite(text_features.grad).all()


@pytest.mark.parametrize("precision", ["amp", "bf16", "fp16"])
def test_model_logits_and_losses_are_fp32(tiny_clip_path, precision):
    _, model, _ = build(tiny_clip_path, precision)
    images, labels = batch()
    with autocast_for(precision, "cuda"):
        output = model(images, labels)
    assert all(output[k].dtype == torch.float32 for k in ("logits", "loss_ce", "loss_ot", "loss"))


# ---------------------------------------------------------------- end to end through train.py


def _train_py(*argv):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "train.py", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process):
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out[-3000:]
    return out


def _accuracy(log):
    match = re.search(r"\* total: ([\d,]+)\n\* correct: [\d,]+\n\* accuracy: ([\d.]+)%", log)
    assert match, log[-2000:]
    return int(match.group(1).replace(",", "")), float(match.group(2))


def test_fp16_base_to_new_through_train_py_matches_fp32(tmp_path, tiny_clip_path):
    from tests.fake_data import make_dtd

    root = str(tmp_path / "data")
    make_dtd(root, n_classes=6, n_per_class=20, class_dependent=True)  # 6 test images per class

    def argv(precision, subsample, out, *extra):
        return ["--root", root, "--seed", "1", "--trainer", "EnPrompt", "--dataset-config-file", DTD_CFG,
                "--config-file", BASE2NEW_CFG, "--output-dir", str(out), *extra,
                "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", subsample,
                "TRAINER.ENPROMPT.CLIP_WEIGHTS", tiny_clip_path, "TRAINER.ENPROMPT.PREC", precision,
                "DATALOADER.NUM_WORKERS", "0"]

    precisions = ("fp16", "fp32")
    # the two precisions side by side on the GPU: train on the base classes ...
    runs = {p: _train_py(*argv(p, "base", tmp_path / f"{p}-base")) for p in precisions}
    logs = {p: _finish(runs[p]) for p in precisions}
    assert "Warning: TRAINER.ENPROMPT.PREC fp16" not in logs["fp16"]  # no fallback to fp32
    base = {p: _accuracy(logs[p]) for p in precisions}
    # ... then test the last checkpoint on the new classes
    runs = {p: _train_py(*argv(p, "new", tmp_path / f"{p}-new", "--eval-only", "--model-dir",
                              str(tmp_path / f"{p}-base"), "--load-epoch", "5")) for p in precisions}
    new = {p: _accuracy(_finish(runs[p])) for p in precisions}

    assert all(total == 18 for total, _ in [*base.values(), *new.values()]), (base, new)
    assert base["fp32"][1] > 60.0, base  # the task is learnt (3 classes: chance is 33%)
    assert base["fp16"][1] == pytest.approx(base["fp32"][1], abs=ACCURACY_TOLERANCE), (base, new)
    assert new["fp16"][1] == pytest.approx(new["fp32"][1], abs=ACCURACY_TOLERANCE), (base, new)
