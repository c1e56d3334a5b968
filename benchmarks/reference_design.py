"""The reference design of the benchmark: class prompts re-encoded at every step.

A measuring device, not part of the library. It stands for the text side of
the CoOp-family designs that learn a text context (CoOp, MaPLe, IVLP,
PromptSRC): every class prompt

    ``[SOS] X X X X <class name> . [EOT]``  (``n_ctx_text`` learnable X tokens)

goes through CLIP's frozen text encoder at every forward pass, train and
eval, with the gradient flowing back through the encoder to the shared
learnable context. Its cost grows with the number of classes C (the users'
complaints #3 and #4 in the CoOp-family trackers).

Everything else is EnPrompt's, on purpose, so that a measured difference is
the text side and nothing else: :class:`ReencodedTextPromptCLIP` subclasses
:class:`enprompt.model.EnPromptCLIP` and overrides only ``text_side()``. It
keeps the same deep visual prompts ``P_j`` with the strengthening offsets
``G_j(s)`` (here ``s`` comes from the re-encoded text features), the same
image encoder, logits, cross-entropy and OT loss. ``EnLa`` is switched off
(the prompt learner is built with ``enla_enabled=False``), since the text
context is the reference's text-side capacity.
"""
import clip
import torch
import torch.nn as nn
import torch.utils.checkpoint

from enprompt.model import EnPromptCLIP

__all__ = ["ContextTextPrompts", "ReencodedTextPromptCLIP"]

# The placeholder word whose token embeddings the learnable context replaces.
CONTEXT_PLACEHOLDER = "X"


class ContextTextPrompts(nn.Module):
    """Learnable context tokens + frozen CLIP text encoder, run at every call.

    The frozen text modules of ``clip_model`` are shared (not copied) and
    registered here, so they follow this module to the accelerator, where the
    reference design needs them at every step.

    Args:
        clip_model (clip.model.CLIP): frozen CLIP.
        classnames (list[str]): the C class names (``_`` becomes a space).
        n_ctx (int): number of learnable context tokens (>= 1).
        checkpoint_layers (bool): recompute each text layer's activations in
            the backward pass (``torch.utils.checkpoint``) instead of keeping
            them: memory no longer holds every layer's activations for all C
            prompts, at the price of one more text forward per step.

    Shape:
        - Output: text features [C, D] in CLIP's compute dtype (not normalised).
    """

    def __init__(self, clip_model, classnames, n_ctx=4, checkpoint_layers=False):
        super().__init__()
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be >= 1, got {n_ctx}")
        if not classnames:
            raise ValueError("classnames is empty: the reference design needs at least one class")
        self.dtype = clip_model.dtype
        self.checkpoint_layers = checkpoint_layers
        width = clip_model.ln_final.normalized_shape[0]
        context_text = " ".join([CONTEXT_PLACEHOLDER] * n_ctx)
        prompts = [f"{context_text} {name.replace('_', ' ')}." for name in classnames]
        tokens = clip.tokenize(prompts, context_length=clip_model.context_length)  # [C, 77]
        with torch.no_grad():
            embedded = clip_model.token_embedding(tokens).type(self.dtype)  # [C, 77, width]
        # Token 0 is SOS; tokens 1..n_ctx are the placeholders the context replaces.
        self.register_buffer("token_prefix", embedded[:, :1].clone(), persistent=False)
        self.register_buffer("token_suffix", embedded[:, 1 + n_ctx:].clone(), persistent=False)
        self.register_buffer("eot_index", tokens.argmax(dim=-1), persistent=False)  # EOT has the largest id
        self.context = nn.Parameter(torch.randn(n_ctx, width) * 0.02)  # float32, learnable

        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.positional_embedding = clip_model.positional_embedding
        self.text_projection = clip_model.text_projection

    def forward(self):
        n_classes = self.token_prefix.shape[0]
        context = self.context.to(self.dtype).unsqueeze(0).expand(n_classes, -1, -1)
        x = torch.cat([self.token_prefix, context, self.token_suffix], dim=1)  # [C, 77, width]
        x = x + self.positional_embedding.to(self.dtype)
        x = x.permute(1, 0, 2)  # NLD -> LND
        for block in self.transformer.resblocks:
            if self.checkpoint_layers and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x).type(self.dtype)
        eot = x[torch.arange(n_classes, device=x.device), self.eot_index]  # [C, width]
        return eot @ self.text_projection  # [C, D]


class ReencodedTextPromptCLIP(EnPromptCLIP):
    """EnPrompt with its text side replaced by re-encoded learnable prompts.

    Args:
        clip_model, classnames, templates, prompt_learner, ot_loss, ot_weight,
        device: as for :class:`EnPromptCLIP`; ``prompt_learner`` should be
            built with ``enla_enabled=False``.
        n_ctx_text (int): learnable text context tokens.
        checkpoint_text_layers (bool): see :class:`ContextTextPrompts`.

    The frozen features ``T`` the parent computes at construction are not used
    afterwards. Learnable: ``text_prompts.context`` and ``prompt_learner``.
    """

    def __init__(
        self,
        clip_model,
        classnames,
        templates,
        prompt_learner,
        ot_loss=None,
        ot_weight=1.0,
        device=None,
        n_ctx_text=4,
        checkpoint_text_layers=False,
    ):
        super().__init__(
            clip_model, classnames, templates, prompt_learner, ot_loss=ot_loss, ot_weight=ot_weight, device=device
        )
        self.text_prompts = ContextTextPrompts(
            clip_model, classnames, n_ctx=n_ctx_text, checkpoint_layers=checkpoint_text_layers
        )
        if device is not None:
            self.text_prompts.to(device)

    def learnable_parameters(self):
        """The parameters the optimizer updates: text context, ``P_j``, ``G_j``."""
        return [self.text_prompts.context] + list(self.prompt_learner.parameters())

    def text_side(self):
        """Re-encode every class prompt, then the deep prompts from those features (no cache)."""
        text_features = self.text_prompts().float()  # [C, D], through the text encoder
        return self.prompt_learner(text_features)
