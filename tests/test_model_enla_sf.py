"""External Layer (docs/METHOD.md, step 2) and strengthening feature / projections (step 3)."""
import math

import pytest
import torch
import torch.nn.functional as F

from enprompt.model import ExternalLayer, StrengtheningProjection, strengthening_feature

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_enla_is_the_identity_at_init():
    torch.manual_seed(0)
    enla = ExternalLayer(64, reduction=4)
    t = F.normalize(torch.randn(5, 64), dim=-1)
    assert torch.equal(enla(t), t)
    assert enla.down.out_features == 16  # D / r


def test_enla_learns_a_residual_bottleneck():
    torch.manual_seed(0)
    enla = ExternalLayer(8, reduction=2)
    t = torch.randn(3, 8)
    enla(t).pow(2).sum().backward()
    # W2 (zero) receives gradient; W1 does not yet (its output is multiplied by W2 = 0)
    assert enla.up.weight.grad.abs().sum() > 0
    assert enla.down.weight.grad.abs().sum() == 0
    with torch.no_grad():
        enla.up.weight.fill_(0.1)
    expected = t + torch.relu(t @ enla.down.weight.t() + enla.down.bias) @ enla.up.weight.t() + enla.up.bias
    assert torch.allclose(enla(t), expected, atol=1e-6)
    assert not torch.allclose(enla(t), t)


def test_enla_disabled_is_identity_without_parameters():
    enla = ExternalLayer(64, enabled=False)
    t = torch.randn(2, 64)
    assert enla(t) is t
    assert list(enla.parameters()) == []


def test_enla_reduction_must_be_positive():
    with pytest.raises(ValueError, match="reduction r must be >= 1"):
        ExternalLayer(64, reduction=0)


def test_strengthening_feature_by_hand():
    # rows normalised: [1, 0], [0, 1]; mean [0.5, 0.5]; renormalised [1/sqrt2, 1/sqrt2]
    s = strengthening_feature(torch.tensor([[3.0, 0.0], [0.0, 0.5]]))
    assert torch.allclose(s, torch.tensor([1.0, 1.0]) / math.sqrt(2.0))
    # class-count weighting is by class, not by feature norm
    s2 = strengthening_feature(torch.tensor([[100.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    assert torch.allclose(s2, F.normalize(torch.tensor([1.0, 2.0]), dim=0))


@pytest.mark.parametrize("rank", [8, 0])
def test_projection_is_zero_at_init_and_per_layer(rank):
    torch.manual_seed(0)
    proj = StrengtheningProjection(embed_dim=16, vision_width=12, num_layers=3, rank=rank)
    s = F.normalize(torch.randn(16), dim=0)
    out = proj(s)
    assert out.shape == (3, 12)
    assert torch.equal(out, torch.zeros(3, 12))
    with torch.no_grad():
        proj.up_weight.normal_()
        proj.up_bias.normal_()
    out = proj(s)
    z = proj.down.weight @ s if rank else s
    for j in range(3):
        assert torch.allclose(out[j], z @ proj.up_weight[j] + proj.up_bias[j], atol=1e-5)
    assert not torch.allclose(out[0], out[1])


def test_low_rank_projection_parameter_budget_for_vit_b16():
    """D = 512, W = 768, J = 9: rank 64 is ~0.48M parameters, full rank ~3.5M."""
    low = StrengtheningProjection(512, 768, 9, rank=64)
    full = StrengtheningProjection(512, 768, 9, rank=0)
    n_low = sum(p.numel() for p in low.parameters())
    n_full = sum(p.numel() for p in full.parameters())
    assert n_low == 512 * 64 + 9 * 64 * 768 + 9 * 768
    assert n_full == 9 * 512 * 768 + 9 * 768
