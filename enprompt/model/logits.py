"""CLIP's classification logits, in float32 under every precision (docs/METHOD.md, step 5).

``logits = exp(logit_scale) · normalize(v) · normalize(w)^T``. Under amp or
bf16, autocast would recast the product to float16 / bfloat16; bfloat16 keeps
8 significant bits, so at CLIP's scale (``exp(logit_scale) = 100``) logits
near 20 are 0.125 apart and close classes tie in the argmax. The features
keep the precision they were computed in; only this product is float32.
"""
import torch.nn.functional as F

from .precision import autocast_off

__all__ = ["clip_logits"]


def clip_logits(image_features, class_features, logit_scale):
    """Scaled cosine similarities of images and classes.

    Args:
        image_features (Tensor): v, [B, D], any float dtype.
        class_features (Tensor): w, [C, D], any float dtype (need not be normalised).
        logit_scale (Tensor): CLIP's log scale (scalar).

    Returns:
        Tensor: [B, C], float32.
    """
    with autocast_off(image_features.device.type):
        v = F.normalize(image_features.float(), dim=-1)
        w = F.normalize(class_features.float(), dim=-1)
        return logit_scale.float().exp() * v @ w.t()
