"""The learnable part of EnPrompt, as one module (checkpointed alone).

Holds exactly the trainable parameters of docs/METHOD.md, step 7 and nothing
class-dependent, so a checkpoint trained on base classes loads into a model
built for new classes:

* ``enla``: the External Layer ``EnLa`` (step 2);
* ``visual_prompts``: the learnable visual tokens ``P_j`` [J, n, W] (step 4);
* ``sf_projection``: the strengthening projections ``G_j`` (step 3).

Its forward maps the frozen text features ``T`` of the current class list to
the text side of the model: the class embeddings ``EnLa(T)`` and the fused
deep prompts ``P_j + G_j(s)`` with ``s = normalize(mean_c normalize(EnLa(t_c)))``.
"""
import torch
import torch.nn as nn

from .enla import ExternalLayer
from .strengthening import StrengtheningProjection, strengthening_feature

__all__ = ["EnPromptLearner"]


class EnPromptLearner(nn.Module):
    """EnLa + visual prompt tokens + strengthening projections (all float32).

    Args:
        embed_dim (int): D, CLIP's joint embedding size.
        vision_width (int): W, CLIP's vision width.
        n_ctx (int): n, prompt tokens per layer (``N_CTX_VISION``), >= 0.
        depth (int): J, prompted vision layers (``PROMPT_DEPTH_VISION``), >= 0.
        enla_enabled (bool): ``ENLA.ENABLE``; False makes EnLa the identity.
        enla_reduction (int): r (``ENLA.REDUCTION``).
        sf_enabled (bool): ``SF.ENABLE``; needs n > 0 and J > 0.
        sf_rank (int): rank of ``G_j`` (``SF.RANK``; 0 = full rank).

    Shape:
        - Input: ``T`` [C, D], float32.
        - Output: ``(EnLa(T) [C, D], deep_prompts [J, n, W] or None)``, float32.
    """

    def __init__(
        self,
        embed_dim,
        vision_width,
        n_ctx=4,
        depth=9,
        enla_enabled=True,
        enla_reduction=4,
        sf_enabled=True,
        sf_rank=64,
    ):
        super().__init__()
        if n_ctx < 0 or depth < 0:
            raise ValueError(f"n_ctx and depth must be >= 0, got n_ctx={n_ctx}, depth={depth}")
        has_prompts = n_ctx > 0 and depth > 0
        if sf_enabled and not has_prompts:
            raise ValueError(
                "The strengthening feature is fused into the visual prompts, so it needs "
                f"n_ctx > 0 and depth > 0 (got n_ctx={n_ctx}, depth={depth}); disable it."
            )
        self.enla = ExternalLayer(embed_dim, enla_reduction, enabled=enla_enabled)
        if has_prompts:
            self.visual_prompts = nn.Parameter(torch.randn(depth, n_ctx, vision_width) * 0.02)
        else:
            self.register_parameter("visual_prompts", None)
        if sf_enabled:
            self.sf_projection = StrengtheningProjection(embed_dim, vision_width, depth, sf_rank)
        else:
            self.sf_projection = None

    def forward(self, text_features):
        class_embeddings = self.enla(text_features)  # EnLa(T), [C, D]
        prompts = self.visual_prompts  # P, [J, n, W] or None
        if prompts is not None and self.sf_projection is not None:
            s = strengthening_feature(class_embeddings)  # [D]
            offsets = self.sf_projection(s)  # G_j(s), [J, W]
            prompts = prompts + offsets.unsqueeze(1)  # broadcast over the n tokens
        return class_embeddings, prompts
