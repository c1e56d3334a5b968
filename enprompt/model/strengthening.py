"""Strengthening feature and its per-layer projections (docs/METHOD.md, step 3).

The strengthening feature is a task-level text descriptor of the current
class list (base classes in training, new classes when testing on them)::

    s = normalize(mean_c normalize(EnLa(t_c)))              # [D]

For every prompted vision layer ``j`` a projection ``G_j: D -> W`` maps ``s``
into the vision width; ``G_j(s)`` is added to the learnable visual tokens
``P_j`` (step 4). The projections are zero at initialisation, so the
model starts from plain deep visual prompting.

Budget: nine full-rank 512x768 projections are 3.5M parameters (28 MB in a
checkpoint with SGD momentum), far more than the rest of EnPrompt. By default
``G_j`` is therefore low rank, ``G_j = B_j · A`` with a shared down-projection
``A: D -> R`` (random init) and per-layer up-projections ``B_j: R -> W``
(zero init, with bias). ``R = TRAINER.ENPROMPT.SF.RANK``; ``R = 0`` selects the
memory-hungry full-rank variant (one zero-initialised ``D -> W`` per layer).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["strengthening_feature", "StrengtheningProjection"]


def strengthening_feature(class_features):
    """``s = normalize(mean_c normalize(x_c))``.

    Args:
        class_features (Tensor): [C, D], e.g. ``EnLa(T)``.

    Returns:
        Tensor: [D], unit L2 norm, same dtype.
    """
    return F.normalize(F.normalize(class_features, dim=-1).mean(dim=0), dim=-1)


class StrengtheningProjection(nn.Module):
    """The projections ``G_j: D -> W`` for ``j = 0..J-1``, zero at init.

    Args:
        embed_dim (int): D (input: the strengthening feature).
        vision_width (int): W (output: one offset per prompted layer).
        num_layers (int): J, the number of prompted vision layers.
        rank (int): R > 0: ``G_j = B_j · A`` (shared ``A: D -> R``, per-layer
            ``B_j: R -> W``); R = 0: full-rank ``G_j`` per layer.

    Shape:
        - Input: ``s`` [D], float32.
        - Output: offsets ``[G_0(s), .., G_{J-1}(s)]`` of shape [J, W], float32.
    """

    def __init__(self, embed_dim, vision_width, num_layers, rank=64):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"StrengtheningProjection needs num_layers >= 1, got {num_layers}")
        if rank < 0:
            raise ValueError(f"StrengtheningProjection rank must be >= 0, got {rank}")
        self.rank = rank
        if rank > 0:
            self.down = nn.Linear(embed_dim, rank, bias=False)  # A, shared
            nn.init.normal_(self.down.weight, std=embed_dim**-0.5)
            in_dim = rank
        else:
            self.down = None
            in_dim = embed_dim
        # B_j (or the full-rank G_j): weight [J, in, W] and bias [J, W], zero-initialised.
        self.up_weight = nn.Parameter(torch.zeros(num_layers, in_dim, vision_width))
        self.up_bias = nn.Parameter(torch.zeros(num_layers, vision_width))

    def forward(self, s):
        z = self.down(s) if self.down is not None else s  # [R] or [D]
        return torch.einsum("i,jiw->jw", z, self.up_weight) + self.up_bias
