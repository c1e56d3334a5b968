"""Optimal-transport alignment of image and text features (docs/METHOD.md, step 6).

Over a training batch the two discrete distributions are the image features
``{v_i}`` and the EnLa text features of their labels ``{EnLa(t_{y_i})}``, with
uniform weights and cost ``M_ik = 1 - cos(v_i, EnLa(t_{y_k}))``. ``L_OT`` is the
entropic OT cost ``<Pi*, M>`` where ``Pi*`` is the Sinkhorn plan with
regularisation ``eps``. Everything runs in float32 and is differentiable
w.r.t. both feature sets (autodiff through the unrolled iterations, as POT's
torch backend does).

:func:`sinkhorn` performs exactly the Sinkhorn-Knopp updates of POT's
``ot.sinkhorn`` (``u``/``v`` scalings of ``K = exp(-M / eps)``), for a fixed
number of iterations and with no host-device synchronisation in the loop.
``solver="pot"`` calls ``ot.sinkhorn2`` itself.

The backward pass of :func:`sinkhorn_cost` is written out (:class:`_SinkhornCost`):
the same gradient as autodiff through the unrolled loop, in about 900 small
tensor operations per call instead of about 2,800. At batch 4 they were two
thirds of the operations of an EnPrompt training step, and a GPU step that
small is bound by kernel launches, not arithmetic (docs/PERFORMANCE.md).

Range of ``eps``: with a cost in [0, 2], ``K`` underflows float32 when
``eps < 2 / 87 ~= 0.023``; ``check_enprompt_cfg`` enforces ``OT.EPS >= 0.025``.

Data parallelism: ``L_OT`` couples the images of a batch, so with N processes
it is computed over the *global* batch. :class:`OTAlignmentLoss` gathers both
feature sets from every process with their gradients (as open_clip's
contrastive loss does with ``gather_with_grad``), every process computes the
same ``L_OT`` of the global batch, and the gather's backward sums each
process's gradient for each shard: ``N`` times the shard's gradient, which
DDP's average over the N processes brings back to the gradient of one process
with the whole batch. (Keeping only the local shard's gradient, open_clip's
default, would give ``1/N`` of the OT gradient.) N processes with batch b
therefore make the update of one process with batch ``N*b`` on the same images.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from enprompt.choices import OT_SOLVERS, check_choice
from enprompt.distributed import all_gather_with_grad, is_distributed

from .precision import autocast_off

__all__ = ["OT_SOLVERS", "cosine_cost", "sinkhorn", "sinkhorn_cost", "global_batch", "OTAlignmentLoss"]


def cosine_cost(x, y):
    """Cost matrix ``M_ik = 1 - cos(x_i, y_k)``.

    Args:
        x (Tensor): [B, D].
        y (Tensor): [B', D].

    Returns:
        Tensor: [B, B'] in [0, 2], float32.
    """
    x = F.normalize(x.float(), dim=-1)
    y = F.normalize(y.float(), dim=-1)
    return 1.0 - x @ y.t()


def _sinkhorn_scalings(cost, a, b, eps, n_iters):
    """The Sinkhorn-Knopp loop of :func:`sinkhorn`.

    Returns:
        tuple: ``K`` [B, B'], ``K / a`` [B, B'], the scalings ``[u_0, .., u_N]``
        (each [B]) and ``[v_1, .., v_N]`` (each [B']).
    """
    kernel = torch.exp(cost / (-eps))  # K, [B, B']
    kernel_over_a = kernel / a.reshape(-1, 1)  # (1/a) * K
    kernel_t = kernel.t()
    u = torch.ones_like(a) / a.shape[0]
    v = torch.ones_like(b) / b.shape[0]
    us, vs = [u], []
    for _ in range(n_iters):
        v = b / (kernel_t @ u)
        u = torch.reciprocal(kernel_over_a @ v)  # 1 / ((K / a) v), one operation
        us.append(u)
        vs.append(v)
    return kernel, kernel_over_a, us, vs


def sinkhorn(cost, a, b, eps, n_iters):
    """Entropic OT plan by Sinkhorn-Knopp (the updates of POT's ``ot.sinkhorn``).

    ``K = exp(-M / eps)``; starting from ``u = 1/B``, ``v = 1/B'``, each iteration
    does ``v = b / (K^T u)`` then ``u = 1 / ((K / a) v)``. Fixed iteration count,
    no convergence test, no host sync.

    Args:
        cost (Tensor): M, [B, B'].
        a (Tensor): source weights [B], summing to 1.
        b (Tensor): target weights [B'], summing to 1.
        eps (float): entropic regularisation (> 0).
        n_iters (int): number of iterations (>= 1).

    Returns:
        Tensor: plan ``Pi = diag(u) K diag(v)`` of shape [B, B'].
    """
    kernel, _, us, vs = _sinkhorn_scalings(cost, a, b, eps, n_iters)
    return us[-1].reshape(-1, 1) * kernel * vs[-1].reshape(1, -1)


class _SinkhornCost(torch.autograd.Function):
    """``<Pi, M>`` of :func:`sinkhorn_cost` with its backward pass written out.

    Forward: the operations of :func:`sinkhorn`, then ``sum(M * Pi)``.
    Backward: reverse-mode differentiation of the same unrolled iterations
    w.r.t. ``M`` (the gradient autograd computes through the loop); ``a`` and
    ``b`` get none. With iteration k computing ``w_k = K^T u_{k-1}``,
    ``v_k = b / w_k``, ``z_k = (K / a) v_k``, ``u_k = 1 / z_k``, and ``g_x`` the
    adjoint ``dL/dx``::

        g_z_k = -u_k^2 * g_u_k          g_v_k = (K / a)^T g_z_k   (+ g_v_N via Pi)
        g_w_k = -(v_k^2 / b) * g_v_k    g_u_{k-1} = K g_w_k
        g_K = g_Pi * u_N v_N^T + sum_k (g_z_k v_k^T) / a + sum_k u_{k-1} g_w_k^T
        g_M = g_L * Pi + g_K * (-K / eps),   with g_Pi = g_L * M

    The two sums over k are one matrix product each, so an iteration costs four
    small operations in backward, against about fifteen through autograd.
    """

    @staticmethod
    def forward(ctx, cost, a, b, eps, n_iters):
        kernel, kernel_over_a, us, vs = _sinkhorn_scalings(cost, a, b, eps, n_iters)
        plan = us[-1].reshape(-1, 1) * kernel * vs[-1].reshape(1, -1)
        ctx.save_for_backward(cost, kernel, kernel_over_a, a, b, plan, torch.stack(us), torch.stack(vs))
        ctx.eps = eps
        return torch.sum(cost * plan)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        cost, kernel, kernel_over_a, a, b, plan, us, vs = ctx.saved_tensors  # us [N+1, B], vs [N, B']
        n_iters = vs.shape[0]
        grad_plan = grad_output * cost  # g_Pi
        grad_plan_kernel = grad_plan * kernel
        grad_u = grad_plan_kernel @ vs[-1]  # g_u_N
        grad_v_last = grad_plan_kernel.t() @ us[-1]  # g_v_N through Pi
        grad_kernel = grad_plan * (us[-1].reshape(-1, 1) * vs[-1].reshape(1, -1))
        du_dz = (-(us[1:] * us[1:])).unbind(0)  # N x [B]
        dv_dw = (-(vs * vs) / b).unbind(0)  # N x [B']
        kernel_over_a_t = kernel_over_a.t()
        grad_zs, grad_ws = [None] * n_iters, [None] * n_iters
        for k in reversed(range(n_iters)):
            grad_z = grad_u * du_dz[k]
            grad_v = kernel_over_a_t @ grad_z
            if k == n_iters - 1:
                grad_v = grad_v + grad_v_last
            grad_w = grad_v * dv_dw[k]
            grad_u = kernel @ grad_w
            grad_zs[k], grad_ws[k] = grad_z, grad_w
        grad_kernel = (
            grad_kernel
            + (torch.stack(grad_zs).t() @ vs) / a.reshape(-1, 1)
            + us[:-1].t() @ torch.stack(grad_ws)
        )
        grad_cost = grad_output * plan + grad_kernel * kernel * (-1.0 / ctx.eps)
        return grad_cost, None, None, None, None


def sinkhorn_cost(cost, a, b, eps, n_iters):
    """Entropic OT cost ``<Pi, M>`` with ``Pi = sinkhorn(M, a, b, eps, n_iters)``.

    Same value as ``ot.sinkhorn2(a, b, M, eps, numItermax=n_iters, stopThr=0)``,
    and the gradient w.r.t. ``M`` of autodiff through the unrolled iterations,
    computed by :class:`_SinkhornCost`. When ``a`` or ``b`` requires a gradient,
    autograd runs through the loop instead.

    Returns:
        Tensor: scalar.
    """
    if a.requires_grad or b.requires_grad:
        return torch.sum(cost * sinkhorn(cost, a, b, eps, n_iters))
    return _SinkhornCost.apply(cost, a, b, eps, n_iters)


def global_batch(image_features, text_features):
    """Both feature sets of the global batch, processes in rank order, float32, with gradients.

    In one process: the features themselves. See the module docstring for why
    the gradient is exact.

    Shape:
        - image_features, text_features: [b, D] on each of N processes.
        - Output: two [N*b, D].
    """
    if not is_distributed():
        return image_features, text_features
    dim = image_features.shape[1]
    both = all_gather_with_grad(torch.cat([image_features.float(), text_features.float()], dim=1))
    return both[:, :dim], both[:, dim:]


class OTAlignmentLoss(nn.Module):
    """``L_OT`` between a batch of image features and the text features of their labels.

    Args:
        eps (float): entropic regularisation (``TRAINER.ENPROMPT.OT.EPS``).
        n_iters (int): Sinkhorn iterations (``TRAINER.ENPROMPT.OT.ITERS``).
        solver (str): ``"sinkhorn"`` (built-in :func:`sinkhorn_cost`) or
            ``"pot"`` (``ot.sinkhorn2``, same updates).

    Shape:
        - image_features: [B, D] (any float dtype).
        - text_features: [B, D], row i = ``EnLa(t_{y_i})``.
        - Output: scalar, float32. With N processes, the loss of the global
          batch (:func:`global_batch`), the same on every process.
    """

    def __init__(self, eps=0.1, n_iters=100, solver="sinkhorn"):
        super().__init__()
        check_choice("TRAINER.ENPROMPT.OT.SOLVER", solver)
        if eps <= 0:
            raise ValueError(f"OT eps must be > 0, got {eps}")
        if n_iters < 1:
            raise ValueError(f"OT n_iters must be >= 1, got {n_iters}")
        self.eps = float(eps)
        self.n_iters = int(n_iters)
        self.solver = solver

    def forward(self, image_features, text_features):
        with autocast_off(image_features.device.type):
            image_features, text_features = global_batch(image_features, text_features)
            cost = cosine_cost(image_features, text_features)  # [B, B], float32
            a = torch.full((cost.shape[0],), 1.0 / cost.shape[0], dtype=cost.dtype, device=cost.device)
            b = torch.full((cost.shape[1],), 1.0 / cost.shape[1], dtype=cost.dtype, device=cost.device)
            if self.solver == "pot":
                import ot

                return ot.sinkhorn2(a, b, cost, self.eps, numItermax=self.n_iters, stopThr=0)
            return sinkhorn_cost(cost, a, b, self.eps, self.n_iters)

    def extra_repr(self):
        return f"eps={self.eps}, n_iters={self.n_iters}, solver={self.solver!r}"
