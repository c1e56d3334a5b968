"""The EnPrompt model: frozen CLIP + EnLa + strengthening feature + deep
visual prompts + OT alignment (docs/METHOD.md).

::

    T = frozen text features of the class list          [C, D]   (step 1)
    EnLa(T), deep prompts P_j + G_j(s)                   prompt_learner (step 2-4)
    v = PromptedViT(x; P_j + G_j(s))                     [B, D]   (step 4)
    logits = exp(logit_scale) · normalize(v) · normalize(EnLa(T))^T   (step 5)
    L = CE(logits, y) + lambda · L_OT({v_i}, {EnLa(t_{y_i})})         (step 6, 7)

All of CLIP is frozen; ``prompt_learner`` holds every learnable parameter.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .prompted_vision import PromptedVisionEncoder
from .text_features import ClassTextFeatures

__all__ = ["EnPromptCLIP"]


class EnPromptCLIP(nn.Module):
    """CLIP adapted by EnPrompt.

    Args:
        clip_model (clip.model.CLIP): loaded CLIP ViT, frozen here
            (``requires_grad_(False)``). Its image tower becomes a submodule;
            its text tower does not (it stays on the CPU, see
            :mod:`enprompt.model.text_features`).
        classnames (list[str]): the C classes of the task.
        templates (list[str]): templates for the frozen text features.
        prompt_learner (EnPromptLearner): the learnable part.
        ot_loss (OTAlignmentLoss, optional): None disables ``L_OT``.
        ot_weight (float): lambda in ``L = L_CE + lambda · L_OT``.
        device (torch.device, optional): move the model there before the text
            features are computed (so the text encoder runs on the accelerator).

    Buffers (non-persistent): ``text_features`` ``T`` [C, D] float32 and
    ``logit_scale`` (CLIP's, frozen).

    In eval mode of ``prompt_learner`` and under ``torch.no_grad()``, the text
    side (``EnLa(T)``, ``s``, the fused prompts) is computed once and reused
    for every batch until the class list or a learnable parameter changes.
    """

    def __init__(
        self, clip_model, classnames, templates, prompt_learner, ot_loss=None, ot_weight=1.0, device=None
    ):
        super().__init__()
        clip_model.requires_grad_(False)
        self.image_encoder = PromptedVisionEncoder(clip_model.visual)
        self.prompt_learner = prompt_learner
        self.ot_loss = ot_loss
        self.ot_weight = float(ot_weight)
        self.register_buffer("logit_scale", clip_model.logit_scale.detach().float().clone(), persistent=False)
        self.register_buffer("text_features", torch.empty(0), persistent=False)
        self.text_encoder = ClassTextFeatures(clip_model, templates)  # not a submodule
        self.classnames = []
        self._classes_version = 0
        self._eval_cache = None
        if device is not None:
            self.to(device)
        self.set_classnames(classnames)

    # ------------------------------------------------------------------ text side
    def set_classnames(self, classnames):
        """Switch the task to ``classnames``; runs the text encoder only for a new list."""
        classnames = list(classnames)
        if classnames == self.classnames and self.text_features.numel() > 0:
            return
        self.text_features = self.text_encoder(classnames, device=self.logit_scale.device)
        self.classnames = classnames
        self._classes_version += 1
        self._eval_cache = None

    def _eval_cache_key(self):
        params = tuple((p.data_ptr(), p._version) for p in self.prompt_learner.parameters())
        return (self._classes_version, self.text_features.data_ptr(), params)

    def text_side(self):
        """``(EnLa(T) [C, D], deep prompts [J, n, W] or None)``, cached in eval."""
        cacheable = not self.prompt_learner.training and not torch.is_grad_enabled()
        if not cacheable:
            self._eval_cache = None
            return self.prompt_learner(self.text_features)
        key = self._eval_cache_key()
        if self._eval_cache is None or self._eval_cache[0] != key:
            self._eval_cache = (key, self.prompt_learner(self.text_features))
        return self._eval_cache[1]

    def train(self, mode=True):
        self._eval_cache = None
        return super().train(mode)

    # ------------------------------------------------------------------ forward
    def forward(self, images, labels=None):
        """Classify images over the current class list.

        Args:
            images (Tensor): [B, 3, H, W].
            labels (Tensor, optional): [B] class indices; when given the
                losses are computed too.

        Returns:
            Tensor ``logits`` [B, C] (float32) without labels; with labels a
            dict with ``logits``, ``loss_ce``, ``loss_ot`` (0 when OT is off)
            and ``loss = loss_ce + ot_weight * loss_ot``.
        """
        class_embeddings, deep_prompts = self.text_side()  # [C, D], [J, n, W]
        image_features = self.image_encoder(images, deep_prompts)  # v, [B, D]
        v = F.normalize(image_features.float(), dim=-1)
        w = F.normalize(class_embeddings.float(), dim=-1)
        logits = self.logit_scale.exp() * v @ w.t()  # [B, C]
        if labels is None:
            return logits

        loss_ce = F.cross_entropy(logits, labels)
        if self.ot_loss is not None:
            loss_ot = self.ot_loss(image_features, class_embeddings[labels])
        else:
            loss_ot = torch.zeros((), device=logits.device)
        loss = loss_ce + self.ot_weight * loss_ot
        return {"logits": logits, "loss_ce": loss_ce, "loss_ot": loss_ot, "loss": loss}
