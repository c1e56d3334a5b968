"""Sinkhorn and the OT alignment loss (docs/METHOD.md, step 6) against POT."""
import math

import ot
import pytest
import torch
import torch.nn.functional as F

from benchmarks.op_count import count_ops
from enprompt.model import OTAlignmentLoss, cosine_cost, sinkhorn, sinkhorn_cost

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _uniform(n, dtype=torch.float32):
    return torch.full((n,), 1.0 / n, dtype=dtype)


@pytest.mark.parametrize(
    "shape,eps,iters", [((4, 4), 0.1, 100), ((5, 3), 0.1, 7), ((6, 6), 0.05, 1), ((8, 8), 0.5, 30)]
)
def test_sinkhorn_cost_equals_pot(shape, eps, iters):
    g = torch.Generator().manual_seed(sum(shape) + iters)
    x = torch.randn(shape[0], 16, generator=g)
    y = torch.randn(shape[1], 16, generator=g)
    cost = cosine_cost(x, y)
    a, b = _uniform(shape[0]), _uniform(shape[1])
    ours = sinkhorn_cost(cost, a, b, eps, iters)
    theirs = ot.sinkhorn2(a, b, cost, eps, numItermax=iters, stopThr=0)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    plan = sinkhorn(cost, a, b, eps, iters)
    pot_plan = ot.sinkhorn(a, b, cost, eps, numItermax=iters, stopThr=0, warn=False)
    assert torch.allclose(plan, pot_plan, rtol=1e-5, atol=1e-8)


def test_sinkhorn_by_hand_2x2():
    """M = [[0, 1], [1, 0]], a = b = [1/2, 1/2]: by symmetry Pi = K / (2 (1 + e))
    with e = exp(-1/eps), so <Pi, M> = e / (1 + e)."""
    eps = 0.5
    cost = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    a = b = torch.tensor([0.5, 0.5], dtype=torch.float64)
    plan = sinkhorn(cost, a, b, eps, 50)
    e = math.exp(-1.0 / eps)
    expected = torch.tensor([[1.0, e], [e, 1.0]], dtype=torch.float64) / (2.0 * (1.0 + e))
    assert torch.allclose(plan, expected, atol=1e-12)
    assert torch.allclose(sinkhorn_cost(cost, a, b, eps, 50), torch.tensor(e / (1 + e), dtype=torch.float64))


def test_sinkhorn_marginals_with_unequal_weights():
    cost = torch.tensor([[0.2, 1.0], [0.9, 0.1]])
    a = torch.tensor([0.7, 0.3])
    b = torch.tensor([0.4, 0.6])
    plan = sinkhorn(cost, a, b, 0.1, 200)
    assert torch.allclose(plan.sum(dim=1), a, atol=1e-6)
    assert torch.allclose(plan.sum(dim=0), b, atol=1e-6)


def _features(seed):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(6, 32, generator=g, requires_grad=True)
    t = torch.randn(6, 32, generator=g, requires_grad=True)
    return v, t


@pytest.mark.parametrize("solver", ["sinkhorn", "pot"])
def test_loss_equals_pot_and_gradients_reach_both_sets(solver):
    v, t = _features(0)
    loss = OTAlignmentLoss(eps=0.1, n_iters=100, solver=solver)(v, t)
    # reference: POT on the cosine cost, uniform weights
    v_ref = v.detach().clone().requires_grad_(True)
    t_ref = t.detach().clone().requires_grad_(True)
    cost = 1.0 - F.normalize(v_ref, dim=-1) @ F.normalize(t_ref, dim=-1).t()
    reference = ot.sinkhorn2(_uniform(6), _uniform(6), cost, 0.1, numItermax=100, stopThr=0)
    assert loss.dtype == torch.float32
    assert torch.allclose(loss, reference, rtol=1e-5, atol=1e-7)

    loss.backward()
    reference.backward()
    assert v.grad.abs().sum() > 0 and t.grad.abs().sum() > 0
    assert torch.allclose(v.grad, v_ref.grad, rtol=1e-4, atol=1e-7)
    assert torch.allclose(t.grad, t_ref.grad, rtol=1e-4, atol=1e-7)


def test_loss_is_float32_for_low_precision_inputs():
    v, t = _features(1)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = OTAlignmentLoss()(v.bfloat16(), t.bfloat16())
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)


def test_aligned_pairs_cost_less():
    v, _ = _features(2)
    loss = OTAlignmentLoss(eps=0.1)
    assert loss(v, v) < loss(v, torch.randn_like(v))


def test_bad_arguments():
    with pytest.raises(ValueError, match="allowed"):
        OTAlignmentLoss(solver="emd")
    with pytest.raises(ValueError, match="eps must be > 0"):
        OTAlignmentLoss(eps=0)


def _unrolled_autograd_cost(cost, a, b, eps, iters):
    # <Pi, M> with autograd through every Sinkhorn iteration (no written-out backward).
    return torch.sum(cost * sinkhorn(cost, a, b, eps, iters))


@pytest.mark.parametrize("shape,eps,iters", [((4, 4), 0.1, 100), ((5, 3), 0.5, 7), ((3, 6), 0.05, 1)])
def test_written_out_backward_equals_autograd_through_the_loop(shape, eps, iters):
    g = torch.Generator().manual_seed(7 * iters + shape[0])
    cost = cosine_cost(torch.randn(shape[0], 8, generator=g), torch.randn(shape[1], 8, generator=g)).double()
    a = torch.rand(shape[0], generator=g, dtype=torch.float64) + 0.5
    b = torch.rand(shape[1], generator=g, dtype=torch.float64) + 0.5
    a, b = a / a.sum(), b / b.sum()
    ours_cost = cost.clone().requires_grad_(True)
    ref_cost = cost.clone().requires_grad_(True)
    ours = sinkhorn_cost(ours_cost, a, b, eps, iters)
    reference = _unrolled_autograd_cost(ref_cost, a, b, eps, iters)
    assert ours.item() == reference.item()  # same forward operations
    ours.backward()
    reference.backward()
    assert torch.allclose(ours_cost.grad, ref_cost.grad, rtol=1e-10, atol=1e-13)


def test_written_out_backward_passes_gradcheck():
    g = torch.Generator().manual_seed(3)
    cost = torch.rand(4, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    a = torch.full((4,), 0.25, dtype=torch.float64)
    b = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda m: sinkhorn_cost(m, a, b, 0.3, 15), (cost,))


def test_marginals_that_require_grad_get_their_gradient():
    """With a marginal requiring grad, autograd runs through the loop: the gradients
    w.r.t. the cost and both marginals equal POT's autodiff of ``ot.sinkhorn2``
    and finite differences."""
    g = torch.Generator().manual_seed(4)
    cost = torch.rand(3, 4, generator=g, dtype=torch.float64)
    a = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    b = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)

    def gradients(solve):
        inputs = [t.clone().requires_grad_(True) for t in (cost, a, b)]
        solve(*inputs).backward()
        return [t.grad for t in inputs]

    ours = gradients(lambda m, p, q: sinkhorn_cost(m, p, q, 0.1, 20))
    pots = gradients(lambda m, p, q: ot.sinkhorn2(p, q, m, 0.1, numItermax=20, stopThr=0))
    for name, mine, theirs in zip(("cost", "a", "b"), ours, pots):
        assert torch.allclose(mine, theirs, rtol=1e-9, atol=1e-12), name
    assert ours[1].abs().min() > 1e-3  # a real gradient, not zeros
    inputs = [t.clone().requires_grad_(True) for t in (cost, a, b)]
    assert torch.autograd.gradcheck(lambda m, p, q: sinkhorn_cost(m, p, q, 0.1, 20), inputs)


def test_backward_is_a_few_operations_per_iteration():
    """At batch 4 a GPU training step is bound by kernel launches; autograd through
    the loop dispatched about 28 operations per iteration (forward + backward),
    the written-out backward about 9. Guard against a silent return to the former."""
    iters = 100
    v, t = _features(4)
    count = count_ops(lambda: OTAlignmentLoss(eps=0.1, n_iters=iters)(v, t).backward())["total"]
    assert count < 12 * iters + 100, count
