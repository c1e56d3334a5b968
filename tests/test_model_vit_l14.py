"""EnPrompt built on a CLIP with the widths and depths of ViT-L/14.

The backbone is ``clip.model.CLIP`` with the ``ViT-L/14`` entry of
``enprompt.tiny_clip.ARCHITECTURES`` (vision width 1024, 24 layers, 16 heads,
patch 14; text width 768, 12 layers; embedding 768; context 77; vocabulary
49408) and random weights, built and cast as a trainer does with the real
checkpoint (``cast_clip_weights``, ``check_enprompt_cfg``,
``build_enprompt_model``, with the base-to-novel config).

One departure, to keep this cheap on a CPU: the input resolution is 28 px (a
2x2 grid of 14-px patches) instead of 224 px. Every weight matrix keeps its
ViT-L/14 shape; only the positional embedding is shorter (5 rows instead of
257). A forward and backward then take about a second instead of a minute;
building the 427M-parameter model (about 5 s, 1.7 GB in fp32) is done once
for the module.
"""
import pytest
import torch

from enprompt.config import check_enprompt_cfg
from enprompt.model import build_enprompt_model, cast_clip_weights
from enprompt.tiny_clip import ARCHITECTURES
from tests.train_py import cfg_from_argv, train_argv

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RESOLUTION = 28
BASE = ["banded", "blotchy", "braided"]
NEW = ["bubbly", "bumpy", "chequered", "cobwebbed"]


def vit_l14_cfg(*opts):
    """The base-to-novel config for ViT-L/14 at the test's input resolution."""
    return cfg_from_argv(train_argv("INPUT.SIZE", (RESOLUTION, RESOLUTION), "TRAINER.ENPROMPT.PREC", "fp32", *opts,
                                    flags=["--backbone", "ViT-L/14"]))


@pytest.fixture(scope="module")
def vit_l14_clip():
    from clip.model import CLIP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIP(**dict(ARCHITECTURES["ViT-L/14"], image_resolution=RESOLUTION))
    return cast_clip_weights(model.eval(), "fp32")


def test_prompt_depth_limit_is_the_24_layers(vit_l14_clip):
    visual = vit_l14_clip.visual
    assert (visual.conv1.out_channels, len(visual.transformer.resblocks), visual.output_dim) == (1024, 24, 768)
    assert vit_l14_clip.ln_final.normalized_shape == (768,)
    check_enprompt_cfg(vit_l14_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 24), vit_l14_clip)
    with pytest.raises(ValueError, match=r"PROMPT_DEPTH_VISION = 25 .*has 24 layers, so the limit is 24"):
        check_enprompt_cfg(vit_l14_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 25), vit_l14_clip)


def test_all_24_layers_prompted_forward_backward_and_checkpoint(vit_l14_clip):
    cfg = vit_l14_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 24)
    check_enprompt_cfg(cfg, vit_l14_clip)
    model = build_enprompt_model(cfg, vit_l14_clip, BASE)

    # The checkpoint (the prompt learner's state dict): ViT-L/14 widths,
    # D = 768, W = 1024, J = 24, n = 4, EnLa D/4 = 192, strengthening rank 64.
    state = model.prompt_learner.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "enla.down.weight": (192, 768),
        "enla.down.bias": (192,),
        "enla.up.weight": (768, 192),
        "enla.up.bias": (768,),
        "visual_prompts": (24, 4, 1024),
        "sf_projection.down.weight": (64, 768),
        "sf_projection.up_weight": (24, 64, 1024),
        "sf_projection.up_bias": (24, 1024),
    }
    assert all(v.dtype == torch.float32 for v in state.values())

    images = torch.randn(2, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2])
    model.train()
    output = model(images, labels)
    assert output["logits"].shape == (2, 3) and output["logits"].dtype == torch.float32
    assert torch.isfinite(output["loss"]) and output["loss_ot"] > 0
    output["loss"].backward()
    grads = {name: p.grad for name, p in model.prompt_learner.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # EnLa's W2 and the B_j start at zero, so at initialisation the layers in
    # front of them get zero gradients and every other learnable one does not.
    zero_at_init = {"enla.down.weight", "enla.down.bias", "sf_projection.down.weight"}
    assert {name for name, g in grads.items() if g.abs().sum() == 0} == zero_at_init
    assert all(p.grad is None and not p.requires_grad for p in vit_l14_clip.parameters())

    # The base-class checkpoint loads strictly into the model for new classes.
    new_model = build_enprompt_model(cfg, vit_l14_clip, NEW)
    new_model.prompt_learner.load_state_dict(state, strict=True)
    new_model.eval()
    with torch.no_grad():
        assert new_model(images).shape == (2, len(NEW))
