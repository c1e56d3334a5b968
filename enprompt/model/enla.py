"""External Layer (EnLa), the learnable text-side layer (docs/METHOD.md, step 2).

::

    EnLa(t) = t + W2 · act(W1 · t),   W1: D -> D/r,  W2: D/r -> D

``W2`` and its bias start at zero, so at step 0 EnLa is the identity and the
model starts from CLIP's zero-shot text features. The layer is shared by all
classes, so it applies unchanged to classes never trained on.
"""
import torch.nn as nn

__all__ = ["ExternalLayer"]


class ExternalLayer(nn.Module):
    """Residual bottleneck on the frozen text features.

    Args:
        embed_dim (int): D, CLIP's joint embedding size (512 for ViT-B).
        reduction (int): r >= 1; the hidden width is ``max(1, D // r)``
            (``TRAINER.ENPROMPT.ENLA.REDUCTION``).
        enabled (bool): False makes the layer the identity with no parameters
            (``TRAINER.ENPROMPT.ENLA.ENABLE``, the "w/o EnLa" ablation).

    Shape:
        - Input: ``t`` [..., D], float32 (the frozen features ``T`` [C, D]).
        - Output: same shape and dtype.
    """

    def __init__(self, embed_dim, reduction=4, enabled=True):
        super().__init__()
        if reduction < 1:
            raise ValueError(f"EnLa reduction r must be >= 1, got {reduction}")
        self.enabled = enabled
        if not enabled:
            return
        hidden = max(1, embed_dim // reduction)
        self.down = nn.Linear(embed_dim, hidden)  # W1
        self.act = nn.ReLU(inplace=False)
        self.up = nn.Linear(hidden, embed_dim)  # W2, zero-initialised
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, t):
        if not self.enabled:
            return t
        return t + self.up(self.act(self.down(t)))

    def extra_repr(self):
        return "" if self.enabled else "enabled=False (identity)"
