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

from .logits import clip_logits
from .precision import autocast_off, autocast_state
from .prompted_vision import PromptedVisionEncoder
from .text_features import ClassTextFeatures

__all__ = ["EnPromptCLIP"]


class _TextSideCache:
    """The text side computed once, with a copy of every input it was computed from.

    The text side is a function of ``T``, the parameters and buffers of
    ``prompt_learner`` and the autocast state, nothing else. :meth:`get`
    returns the stored result only when all of them equal the copies, value
    for value, so it cannot go stale, however the inputs were changed: an
    optimizer step, ``load_state_dict``, ``param.data.mul_()`` or ``.data =``
    (which bypass autograd's version counter), an in-place write to ``T``, a
    new class list, another autocast dtype. Keys on pointers and version
    counters miss the ``.data`` writes and can collide when memory is reused;
    freezing the text side explicitly around a test run would need a call in
    both engines' test loops (Dassl's ``test()`` only switches the registered
    ``prompt_learner`` to eval). A key on values needs neither.

    The price is one copy of the inputs and, per batch, one exact comparison
    of ``T`` [C, D] and the learnable tensors with it. On one CPU thread, for
    ViT-B/16 with the defaults, that is about 0.5 ms for 100 classes (as long
    as recomputing the text side) and 0.8 ms for 1000 classes (against 4 ms);
    either is small next to the image tower's pass over a test batch. What the
    cache guarantees is that the text side runs once per test run, and that
    the result is exact.
    """

    def __init__(self):
        self._inputs = None
        self._result = None

    @staticmethod
    def _same(kept, current):
        return len(kept) == len(current) and all(
            a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)
            for a, b in zip(kept, current)
        )

    def get(self, autocast, tensors, compute):
        """``compute()``, or the stored result if ``autocast`` and ``tensors`` are as stored."""
        if self._inputs is not None and self._inputs[0] == autocast and self._same(self._inputs[1], tensors):
            return self._result
        self.clear()
        result = compute()
        self._inputs = (autocast, [t.detach().clone() for t in tensors])
        self._result = result
        return result

    def clear(self):
        self._inputs = None
        self._result = None


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
    for every batch while its inputs keep their values (:class:`_TextSideCache`):
    once per test run, and again only after ``T``, a learnable tensor or the
    autocast dtype changed.
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
        self._eval_cache = _TextSideCache()
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
        self._eval_cache.clear()

    def text_side(self):
        """``(EnLa(T) [C, D], deep prompts [J, n, W] or None)``, cached in eval."""
        cacheable = not self.prompt_learner.training and not torch.is_grad_enabled()
        if not cacheable:
            self._eval_cache.clear()
            return self.prompt_learner(self.text_features)
        learner = self.prompt_learner
        inputs = [self.text_features, *learner.parameters(), *learner.buffers()]
        autocast = autocast_state(self.text_features.device.type)
        return self._eval_cache.get(autocast, inputs, lambda: learner(self.text_features))

    def train(self, mode=True):
        self._eval_cache.clear()
        return super().train(mode)

    # ------------------------------------------------------------------ forward
    def forward(self, images, labels=None):
        """Classify images over the current class list.

        Args:
            images (Tensor): [B, 3, H, W].
            labels (Tensor, optional): [B] class indices; when given the
                losses are computed too.

        Returns:
            Tensor ``logits`` [B, C] without labels; with labels a dict with
            ``logits``, ``loss_ce``, ``loss_ot`` (0 when OT is off) and
            ``loss = loss_ce + ot_weight * loss_ot``. Logits and losses are
            float32 under every precision (autocast is off for them).
        """
        class_embeddings, deep_prompts = self.text_side()  # [C, D], [J, n, W]
        image_features = self.image_encoder(images, deep_prompts)  # v, [B, D]
        logits = clip_logits(image_features, class_embeddings, self.logit_scale)  # [B, C]
        if labels is None:
            return logits

        with autocast_off(logits.device.type):
            loss_ce = F.cross_entropy(logits, labels)
        if self.ot_loss is not None:
            loss_ot = self.ot_loss(image_features, class_embeddings[labels])
        else:
            loss_ot = torch.zeros((), device=logits.device)
        loss = loss_ce + self.ot_weight * loss_ot
        return {"logits": logits, "loss_ce": loss_ce, "loss_ot": loss_ot, "loss": loss}
