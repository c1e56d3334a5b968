"""Optimal-transport alignment of image and text features (DESIGN section 3.6).

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

Range of ``eps``: with a cost in [0, 2], ``K`` underflows float32 when
``eps < 2 / 87 ~= 0.023``; ``check_enprompt_cfg`` enforces ``OT.EPS >= 0.025``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["OT_SOLVERS", "cosine_cost", "sinkhorn", "sinkhorn_cost", "OTAlignmentLoss"]

# Allowed values of TRAINER.ENPROMPT.OT.SOLVER.
OT_SOLVERS = ("sinkhorn", "pot")


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
    kernel = torch.exp(cost / (-eps))  # K, [B, B']
    kernel_over_a = kernel / a.reshape(-1, 1)  # (1/a) * K
    u = torch.ones_like(a) / a.shape[0]
    v = torch.ones_like(b) / b.shape[0]
    for _ in range(n_iters):
        v = b / (kernel.t() @ u)
        u = 1.0 / (kernel_over_a @ v)
    return u.reshape(-1, 1) * kernel * v.reshape(1, -1)


def sinkhorn_cost(cost, a, b, eps, n_iters):
    """Entropic OT cost ``<Pi, M>`` with ``Pi = sinkhorn(M, a, b, eps, n_iters)``.

    Same value as ``ot.sinkhorn2(a, b, M, eps, numItermax=n_iters, stopThr=0)``.

    Returns:
        Tensor: scalar.
    """
    return torch.sum(cost * sinkhorn(cost, a, b, eps, n_iters))


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
        - Output: scalar, float32.
    """

    def __init__(self, eps=0.1, n_iters=100, solver="sinkhorn"):
        super().__init__()
        if solver not in OT_SOLVERS:
            raise ValueError(f"OT solver {solver!r} is not supported; allowed: {list(OT_SOLVERS)}")
        if eps <= 0:
            raise ValueError(f"OT eps must be > 0, got {eps}")
        if n_iters < 1:
            raise ValueError(f"OT n_iters must be >= 1, got {n_iters}")
        self.eps = float(eps)
        self.n_iters = int(n_iters)
        self.solver = solver

    def forward(self, image_features, text_features):
        with torch.autocast(device_type=image_features.device.type, enabled=False):
            cost = cosine_cost(image_features, text_features)  # [B, B], float32
            a = torch.full((cost.shape[0],), 1.0 / cost.shape[0], dtype=cost.dtype, device=cost.device)
            b = torch.full((cost.shape[1],), 1.0 / cost.shape[1], dtype=cost.dtype, device=cost.device)
            if self.solver == "pot":
                import ot

                return ot.sinkhorn2(a, b, cost, self.eps, numItermax=self.n_iters, stopThr=0)
            return sinkhorn_cost(cost, a, b, self.eps, self.n_iters)

    def extra_repr(self):
        return f"eps={self.eps}, n_iters={self.n_iters}, solver={self.solver!r}"
