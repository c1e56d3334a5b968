"""Zero-shot CLIP classifier (the ZeroshotCLIP / ZeroshotCLIP2 baselines).

``logits = exp(logit_scale) · normalize(E_img(x)) · T^T`` with the frozen text
features ``T`` of :mod:`enprompt.model.text_features` (custom template or
ensemble), i.e. CoOp's zero-shot CLIP.
"""
import torch
import torch.nn as nn

from .logits import clip_logits
from .text_features import ClassTextFeatures

__all__ = ["ZeroshotCLIPClassifier"]


class ZeroshotCLIPClassifier(nn.Module):
    """Frozen CLIP image tower + frozen class text features.

    Args:
        clip_model (clip.model.CLIP): loaded CLIP (frozen here); only its image
            tower is a submodule, the text tower stays on the CPU.
        classnames (list[str]): the C classes.
        templates (list[str]): templates (one = custom; several = ensemble).
        device (torch.device, optional): where the model goes (default: CPU);
            the text features are computed there.

    Shape:
        - Input: images [B, 3, H, W].
        - Output: logits [B, C], float32 under every precision.
    """

    def __init__(self, clip_model, classnames, templates, device=None):
        super().__init__()
        clip_model.requires_grad_(False)
        self.visual = clip_model.visual
        self.register_buffer("logit_scale", clip_model.logit_scale.detach().float().clone(), persistent=False)
        self.text_encoder = ClassTextFeatures(clip_model, templates)  # not a submodule
        self.register_buffer("text_features", torch.empty(0), persistent=False)
        if device is not None:
            self.to(device)
        self.set_classnames(classnames)

    def set_classnames(self, classnames):
        """Encode ``classnames`` (once per class list) on the model's device."""
        self.classnames = list(classnames)
        self.text_features = self.text_encoder(self.classnames, device=self.logit_scale.device)

    def forward(self, images):
        image_features = self.visual(images.type(self.visual.conv1.weight.dtype))  # [B, D]
        return clip_logits(image_features, self.text_features, self.logit_scale)
