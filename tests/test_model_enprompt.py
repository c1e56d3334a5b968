"""The EnPrompt model (docs/METHOD.md): what is learnable, logits, losses, caching,
class-independent checkpoints and the checkpoint budget."""
import copy
import os

import clip
import pytest
import torch
import torch.nn.functional as F

from enprompt.dassl import save_checkpoint
from enprompt.model import (
    EnPromptLearner,
    ZeroshotCLIPClassifier,
    autocast_for,
    build_enprompt_model,
    cast_clip_weights,
)
from enprompt.tiny_clip import build_random_clip
from tests.configs import make_cfg

pytestmark = pytest.mark.usefixtures("torch_single_thread")

BASE = ["banded", "blotchy", "braided"]
NEW = ["bubbly", "bumpy", "chequered", "cobwebbed"]


def dtd_cfg(*opts):
    """The defaults with EnPrompt's keys, for DTD (its prompt template), then ``opts``."""
    return make_cfg("DATASET.NAME", "DescribableTextures", *opts)


def _images(n=4, seed=0):
    return torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _clip_fp32(tiny_clip):
    return cast_clip_weights(tiny_clip, "fp32")


def _train_steps(model, optim, batches):
    """One optimiser step on the model's loss for each ``(images, labels)`` of ``batches``."""
    for images, labels in batches:
        loss = model(images, labels)["loss"]
        optim.zero_grad()
        loss.backward()
        optim.step()


def test_only_enla_prompts_and_sf_are_learnable(tiny_clip):
    model = build_enprompt_model(dtd_cfg(), _clip_fp32(tiny_clip), BASE)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        "prompt_learner.enla.down.weight",
        "prompt_learner.enla.down.bias",
        "prompt_learner.enla.up.weight",
        "prompt_learner.enla.up.bias",
        "prompt_learner.visual_prompts",
        "prompt_learner.sf_projection.down.weight",
        "prompt_learner.sf_projection.up_weight",
        "prompt_learner.sf_projection.up_bias",
    }
    assert all(not p.requires_grad for p in tiny_clip.parameters())
    # the learnable module holds exactly the learnable tensors, nothing else
    learner = model.prompt_learner
    assert set(learner.state_dict()) == {n for n, _ in learner.named_parameters()}
    assert all(p.requires_grad and p.dtype == torch.float32 for p in learner.parameters())
    assert learner.visual_prompts.shape == (9, 4, 64)
    # the text tower is not part of the model (stays on the CPU, not in state dicts)
    model_params = {id(p) for p in model.parameters()}
    assert id(tiny_clip.token_embedding.weight) not in model_params
    assert id(tiny_clip.transformer.resblocks[0].attn.in_proj_weight) not in model_params
    assert "text_features" not in model.state_dict()


def test_optimisation_changes_exactly_the_learnable_part(tiny_clip):
    clip_model = _clip_fp32(tiny_clip)
    model = build_enprompt_model(dtd_cfg(), clip_model, BASE)
    clip_before = copy.deepcopy(clip_model.state_dict())
    learner_before = copy.deepcopy(model.prompt_learner.state_dict())
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.1, momentum=0.9)
    labels = torch.tensor([0, 1, 2, 1])
    # W1 and A receive gradient from the second step on (W2, B_j start at 0)
    _train_steps(model, optim, [(_images(), labels)] * 2)
    for name, value in clip_model.state_dict().items():
        assert torch.equal(value, clip_before[name]), f"CLIP parameter {name} changed"
    for name, value in model.prompt_learner.state_dict().items():
        assert not torch.equal(value, learner_before[name]), f"learnable {name} did not change"


def test_starts_from_zero_shot_clip(tiny_clip):
    """At init EnLa is the identity and G_j(s) = 0; without visual prompts the
    logits are exactly zero-shot CLIP's."""
    clip_model = _clip_fp32(tiny_clip)
    cfg = dtd_cfg("TRAINER.ENPROMPT.N_CTX_VISION", 0, "TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0,
                  "TRAINER.ENPROMPT.SF.ENABLE", False)
    model = build_enprompt_model(cfg, clip_model, BASE)
    images = _images()
    with torch.no_grad():
        logits = model(images)
        v = F.normalize(clip_model.encode_image(images), dim=-1)
        t = F.normalize(clip_model.encode_text(clip.tokenize([f"{c} texture." for c in BASE])), dim=-1)
        expected = clip_model.logit_scale.exp() * v @ t.t()
    assert torch.allclose(logits, expected, atol=1e-4)


def test_losses(tiny_clip):
    clip_model = _clip_fp32(tiny_clip)
    labels = torch.tensor([0, 1, 2, 0])
    model = build_enprompt_model(dtd_cfg("TRAINER.ENPROMPT.OT.WEIGHT", 0.5), clip_model, BASE)
    out = model(_images(), labels)
    assert out["logits"].shape == (4, 3)
    assert torch.allclose(out["loss_ce"], F.cross_entropy(out["logits"], labels))
    assert out["loss_ot"] > 0
    assert torch.allclose(out["loss"], out["loss_ce"] + 0.5 * out["loss_ot"])

    no_ot = build_enprompt_model(dtd_cfg("TRAINER.ENPROMPT.OT.ENABLE", False), clip_model, BASE)
    out = no_ot(_images(), labels)
    assert out["loss_ot"].item() == 0.0
    assert torch.equal(out["loss"], out["loss_ce"])


def test_text_encoder_runs_once_per_class_list_not_per_step(tiny_clip):
    calls = []
    tiny_clip.transformer.register_forward_hook(lambda *args: calls.append(1))
    model = build_enprompt_model(dtd_cfg(), _clip_fp32(tiny_clip), BASE)
    assert len(calls) == 1
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.01)
    _train_steps(model, optim, [(_images(2, seed=step), torch.tensor([0, 2])) for step in range(3)])
    model.eval()
    with torch.no_grad():
        model(_images(2))
    assert len(calls) == 1
    model.set_classnames(NEW)
    assert len(calls) == 2
    with torch.no_grad():
        assert model(_images(2)).shape == (2, 4)
    model.set_classnames(BASE)  # seen before: cached
    assert len(calls) == 2


def test_eval_computes_the_text_side_once_per_test_run(tiny_clip):
    model = build_enprompt_model(dtd_cfg(), _clip_fp32(tiny_clip), BASE)
    runs = []
    model.prompt_learner.register_forward_hook(lambda *args: runs.append(1))

    model.prompt_learner.eval()  # what Dassl's set_model_mode("eval") does
    with torch.no_grad():
        first = [model(_images(2, seed=i)) for i in range(4)]
    assert len(runs) == 1
    # cached and fresh results agree
    model._eval_cache.clear()
    with torch.no_grad():
        assert torch.equal(model(_images(2, seed=3)), first[3])
    assert len(runs) == 2

    model.prompt_learner.train()
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.1)
    _train_steps(model, optim, [(_images(2, seed=i), torch.tensor([0, 1])) for i in range(2)])
    assert len(runs) == 4  # once per training step

    model.prompt_learner.eval()
    with torch.no_grad():
        after = [model(_images(2, seed=i)) for i in range(3)]
    assert len(runs) == 5  # parameters changed: recomputed once
    assert not torch.allclose(after[0], first[0])

    model.set_classnames(NEW)
    with torch.no_grad():
        model(_images(2))
        model(_images(2))
    assert len(runs) == 6

    # parameters changed in place while in eval (e.g. loading a checkpoint)
    with torch.no_grad():
        model.prompt_learner.visual_prompts.add_(1.0)
        model(_images(2))
    assert len(runs) == 7


def _move_off_init(learner):
    # W2 and B_j start at zero, where EnLa and G_j(s) are exact in any dtype; move every
    # parameter as training would.
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in learner.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def _fresh_logits(model, images):
    # The text side is only cached under no_grad: with grad enabled it is recomputed.
    with torch.enable_grad():
        return model(images).detach()


def _scale_prompts_through_data(model):
    model.prompt_learner.visual_prompts.data.mul_(2.0)  # .data writes bypass the version counter


def _perturb_text_features_in_place(model):
    noise = torch.randn(model.text_features.shape, generator=torch.Generator().manual_seed(5))
    model.text_features.add_(0.5 * noise)  # same tensor, same storage


@pytest.mark.parametrize("change", [_scale_prompts_through_data, _perturb_text_features_in_place])
def test_eval_text_side_follows_in_place_changes_of_its_inputs(tiny_clip, change):
    model = build_enprompt_model(dtd_cfg(), _clip_fp32(tiny_clip), BASE)
    model.prompt_learner.eval()
    images = _images(2)
    with torch.no_grad():
        before = model(images)  # computes and keeps the text side
        change(model)
        after = model(images)
    assert not torch.allclose(after, before)
    assert torch.equal(after, _fresh_logits(model, images))


@pytest.mark.parametrize("first,then", [(torch.bfloat16, None), (None, torch.bfloat16),
                                        (torch.float16, torch.bfloat16)])
def test_eval_text_side_follows_the_autocast_dtype(tiny_clip, first, then):
    model = build_enprompt_model(dtd_cfg(), _clip_fp32(tiny_clip), BASE)
    _move_off_init(model.prompt_learner)
    model.prompt_learner.eval()
    images = _images(2)

    def under(dtype):
        return torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)

    with torch.no_grad(), under(first):
        model(images)  # text side computed under `first`
    with torch.no_grad(), under(then):
        served = model(images)
    with under(then):
        assert torch.equal(served, _fresh_logits(model, images))


def _outputs_of(module):
    seen = []
    module.register_forward_hook(lambda mod, args, out: seen.append(out))
    return seen


def _fp32_reference_logits(image_features, class_features, logit_scale):
    v = F.normalize(image_features.float(), dim=-1)
    w = F.normalize(class_features.float(), dim=-1)
    return logit_scale.float().exp() * v @ w.t()


@pytest.mark.parametrize("prec", ["amp", "bf16"])
def test_logits_and_cross_entropy_are_float32_under_autocast(tiny_clip, prec):
    model = build_enprompt_model(dtd_cfg(), cast_clip_weights(tiny_clip, prec), BASE)
    _move_off_init(model.prompt_learner)
    image_features, text_side = _outputs_of(model.image_encoder), _outputs_of(model.prompt_learner)
    labels = torch.tensor([0, 2])
    with autocast_for(prec, "cpu"):
        out = model(_images(2), labels)
    (v,), ((w, _),) = image_features, text_side
    assert v.dtype == (torch.float16 if prec == "amp" else torch.bfloat16)  # the tower's precision
    expected = _fp32_reference_logits(v, w, model.logit_scale)
    assert out["logits"].dtype == torch.float32 and out["loss_ce"].dtype == torch.float32
    assert torch.equal(out["logits"], expected)
    assert torch.equal(out["loss_ce"], F.cross_entropy(expected, labels))


@pytest.mark.parametrize("prec", ["amp", "bf16"])
def test_zero_shot_logits_are_float32_under_autocast(tiny_clip, prec):
    model = ZeroshotCLIPClassifier(cast_clip_weights(tiny_clip, prec), BASE, ["a photo of a {}."])
    image_features = _outputs_of(model.visual)
    with torch.no_grad(), autocast_for(prec, "cpu"):
        logits = model(_images(2))
    assert logits.dtype == torch.float32
    assert torch.equal(logits, _fp32_reference_logits(image_features[0], model.text_features, model.logit_scale))


def test_base_checkpoint_loads_into_a_new_class_model(tiny_clip):
    cfg = dtd_cfg()
    base_model = build_enprompt_model(cfg, _clip_fp32(tiny_clip), BASE)
    with torch.no_grad():
        for p in base_model.prompt_learner.parameters():
            p.add_(torch.randn_like(p))
    state = base_model.prompt_learner.state_dict()
    new_model = build_enprompt_model(cfg, _clip_fp32(tiny_clip), NEW)
    new_model.prompt_learner.load_state_dict(state, strict=True)
    for name, value in new_model.prompt_learner.state_dict().items():
        assert torch.equal(value, state[name])
    with torch.no_grad():
        assert new_model(_images(2)).shape == (2, len(NEW))


def _checkpoint_size_mb(learner, optim, folder):
    path = save_checkpoint(
        {
            "state_dict": learner.state_dict(),
            "epoch": 5,
            "optimizer": optim.state_dict(),
            "scheduler": None,
            "val_result": None,
        },
        folder,
    )
    return path, os.path.getsize(path) / 2**20


def test_vit_b16_checkpoint_is_under_10_mb(tmp_path):
    """Learnable parameters + SGD momentum of EnPrompt on ViT-B/16 (real shapes,
    random values), saved the way the trainer saves checkpoints."""
    clip_model = build_random_clip("ViT-B/16", seed=0)  # native fp16 layout
    cast_clip_weights(clip_model, "fp32")
    cfg = dtd_cfg("OPTIM.NAME", "sgd", "OPTIM.LR", 0.0035, "OPTIM.MAX_EPOCH", 5)
    model = build_enprompt_model(cfg, clip_model, ["cat", "dog"])
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.0035, momentum=0.9)
    loss = model(_images(1), torch.tensor([1]))["loss"]
    loss.backward()
    optim.step()
    assert all("momentum_buffer" in s for s in optim.state_dict()["state"].values())
    n_learnable = sum(p.numel() for p in model.prompt_learner.parameters())
    assert n_learnable < 1_000_000
    path, size_mb = _checkpoint_size_mb(model.prompt_learner, optim, str(tmp_path / "prompt_learner"))
    assert size_mb < 10, f"checkpoint is {size_mb:.1f} MB"
    assert set(torch.load(path, weights_only=True)["state_dict"]) == set(model.prompt_learner.state_dict())


def test_full_rank_sf_is_the_memory_hungry_variant(tmp_path):
    """SF.RANK 0 (nine full-rank 512x768 G_j) would break the 10 MB budget."""
    learner = EnPromptLearner(embed_dim=512, vision_width=768, n_ctx=4, depth=9, sf_rank=0)
    optim = torch.optim.SGD(learner.parameters(), lr=0.0035, momentum=0.9)
    for p in learner.parameters():
        p.grad = torch.ones_like(p)
    optim.step()
    _, size_mb = _checkpoint_size_mb(learner, optim, str(tmp_path / "prompt_learner"))
    assert size_mb > 25
