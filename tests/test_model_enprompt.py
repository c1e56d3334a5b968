"""The EnPrompt model (docs/METHOD.md): what is learnable, logits, losses, caching,
class-independent checkpoints and the checkpoint budget."""
import copy
import os

import clip
import pytest
import torch
import torch.nn.functional as F

from enprompt.config import add_enprompt_config
from enprompt.dassl import get_cfg_default, save_checkpoint
from enprompt.model import EnPromptLearner, build_enprompt_model, cast_clip_weights
from enprompt.tiny_clip import build_random_clip

pytestmark = pytest.mark.usefixtures("torch_single_thread")

BASE = ["banded", "blotchy", "braided"]
NEW = ["bubbly", "bumpy", "chequered", "cobwebbed"]


def make_cfg(*opts):
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.DATASET.NAME = "DescribableTextures"
    cfg.merge_from_list(list(opts))
    return cfg


def _images(n=4, seed=0):
    return torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _clip_fp32(tiny_clip):
    return cast_clip_weights(tiny_clip, "fp32")


def test_only_enla_prompts_and_sf_are_learnable(tiny_clip):
    model = build_enprompt_model(make_cfg(), _clip_fp32(tiny_clip), BASE)
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
    model = build_enprompt_model(make_cfg(), clip_model, BASE)
    clip_before = copy.deepcopy(clip_model.state_dict())
    learner_before = copy.deepcopy(model.prompt_learner.state_dict())
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.1, momentum=0.9)
    labels = torch.tensor([0, 1, 2, 1])
    for _ in range(2):  # W1 and A receive gradient from the second step on (W2, B_j start at 0)
        out = model(_images(), labels)
        optim.zero_grad()
        out["loss"].backward()
        optim.step()
    for name, value in clip_model.state_dict().items():
        assert torch.equal(value, clip_before[name]), f"CLIP parameter {name} changed"
    for name, value in model.prompt_learner.state_dict().items():
        assert not torch.equal(value, learner_before[name]), f"learnable {name} did not change"


def test_starts_from_zero_shot_clip(tiny_clip):
    """At init EnLa is the identity and G_j(s) = 0; without visual prompts the
    logits are exactly zero-shot CLIP's."""
    clip_model = _clip_fp32(tiny_clip)
    cfg = make_cfg("TRAINER.ENPROMPT.N_CTX_VISION", 0, "TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0,
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
    model = build_enprompt_model(make_cfg("TRAINER.ENPROMPT.OT.WEIGHT", 0.5), clip_model, BASE)
    out = model(_images(), labels)
    assert out["logits"].shape == (4, 3)
    assert torch.allclose(out["loss_ce"], F.cross_entropy(out["logits"], labels))
    assert out["loss_ot"] > 0
    assert torch.allclose(out["loss"], out["loss_ce"] + 0.5 * out["loss_ot"])

    no_ot = build_enprompt_model(make_cfg("TRAINER.ENPROMPT.OT.ENABLE", False), clip_model, BASE)
    out = no_ot(_images(), labels)
    assert out["loss_ot"].item() == 0.0
    assert torch.equal(out["loss"], out["loss_ce"])


def test_text_encoder_runs_once_per_class_list_not_per_step(tiny_clip):
    calls = []
    tiny_clip.transformer.register_forward_hook(lambda *args: calls.append(1))
    model = build_enprompt_model(make_cfg(), _clip_fp32(tiny_clip), BASE)
    assert len(calls) == 1
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.01)
    for step in range(3):
        loss = model(_images(2, seed=step), torch.tensor([0, 2]))["loss"]
        optim.zero_grad()
        loss.backward()
        optim.step()
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
    model = build_enprompt_model(make_cfg(), _clip_fp32(tiny_clip), BASE)
    runs = []
    model.prompt_learner.register_forward_hook(lambda *args: runs.append(1))

    model.prompt_learner.eval()  # what Dassl's set_model_mode("eval") does
    with torch.no_grad():
        first = [model(_images(2, seed=i)) for i in range(4)]
    assert len(runs) == 1
    # cached and fresh results agree
    model._eval_cache = None
    with torch.no_grad():
        assert torch.equal(model(_images(2, seed=3)), first[3])
    assert len(runs) == 2

    model.prompt_learner.train()
    optim = torch.optim.SGD(model.prompt_learner.parameters(), lr=0.1)
    for i in range(2):
        loss = model(_images(2, seed=i), torch.tensor([0, 1]))["loss"]
        optim.zero_grad()
        loss.backward()
        optim.step()
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


def test_base_checkpoint_loads_into_a_new_class_model(tiny_clip):
    cfg = make_cfg()
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
    cfg = make_cfg("OPTIM.NAME", "sgd", "OPTIM.LR", 0.0035, "OPTIM.MAX_EPOCH", 5)
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
