"""Deep visual prompting of CLIP's ViT image encoder (docs/METHOD.md, step 4).

Built around the stock ``clip.model.VisionTransformer`` modules (``conv1``,
``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks``, ``ln_post``, ``proj``); the ``clip`` package is
neither edited nor copied. Layer ``j < J`` receives the ``n`` prompt tokens
``P_j + G_j(s)`` (already fused by the caller):

* layer 0: appended after the positional embedding, before ``ln_pre`` (VPT /
  IVLP style), so the sequence is ``[CLS, patches, prompts]``;
* layers ``1..J-1``: the previous layer's ``n`` prompt outputs are replaced;
* deeper layers carry the prompt outputs through.

The image feature is the usual ``v = ln_post(x_CLS) @ proj``. Without prompts
the computation is exactly ``clip_model.encode_image``.
"""
import torch
import torch.nn as nn

__all__ = ["PromptedVisionEncoder"]


class PromptedVisionEncoder(nn.Module):
    """CLIP's ViT with deep prompt tokens injected; holds no learnable tensor.

    Args:
        visual (clip.model.VisionTransformer): the frozen image tower
            (``clip_model.visual``); registered as a submodule so that it
            follows the model to the accelerator.

    Attributes:
        width (int): W, the vision width (768 for ViT-B).
        num_layers (int): L, the number of residual blocks.
        output_dim (int): D, the joint embedding size.
    """

    def __init__(self, visual):
        super().__init__()
        if not hasattr(visual, "conv1") or not hasattr(visual, "transformer"):
            raise TypeError(
                f"PromptedVisionEncoder needs a CLIP ViT image tower, got {type(visual).__name__}"
            )
        self.visual = visual
        self.width = visual.conv1.out_channels
        self.num_layers = len(visual.transformer.resblocks)
        self.output_dim = visual.proj.shape[1]

    @property
    def dtype(self):
        """Compute dtype of the tower (``conv1``'s, as ``CLIP.dtype``)."""
        return self.visual.conv1.weight.dtype

    def embed(self, images):
        """Patch + class token embedding with positions: [B, 3, H, W] -> [B, 1 + G*G, W]."""
        visual = self.visual
        x = visual.conv1(images.type(self.dtype))  # [B, W, G, G]
        x = x.reshape(x.shape[0], x.shape[1], -1)  # [B, W, G*G]
        x = x.permute(0, 2, 1)  # [B, G*G, W]
        cls = visual.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device
        )
        x = torch.cat([cls, x], dim=1)  # [B, 1 + G*G, W]
        return x + visual.positional_embedding.to(x.dtype)

    def forward(self, images, deep_prompts=None):
        """Encode images with deep prompts.

        Args:
            images (Tensor): [B, 3, H, W], H = W = the tower's input resolution.
            deep_prompts (Tensor, optional): [J, n, W] prompt tokens for layers
                ``0..J-1`` (any float dtype; cast to the tower dtype here),
                J <= L. None or n = 0: no prompts.

        Returns:
            Tensor: image features ``v`` [B, D] in the tower dtype.
        """
        visual = self.visual
        x = self.embed(images)  # [B, 1 + G*G, W]
        n_prompts, depth = 0, 0
        if deep_prompts is not None and deep_prompts.shape[0] > 0 and deep_prompts.shape[1] > 0:
            depth, n_prompts = deep_prompts.shape[0], deep_prompts.shape[1]
            if depth > self.num_layers:
                raise ValueError(
                    f"deep_prompts covers {depth} layers but the image encoder has "
                    f"{self.num_layers}; PROMPT_DEPTH_VISION must be <= {self.num_layers}"
                )
            deep_prompts = deep_prompts.to(x.dtype)
            first = deep_prompts[0].unsqueeze(0).expand(x.shape[0], -1, -1)  # [B, n, W]
            x = torch.cat([x, first], dim=1)  # [B, 1 + G*G + n, W]
        x = visual.ln_pre(x)

        x = x.permute(1, 0, 2)  # NLD -> LND: [1 + G*G + n, B, W]
        for j, block in enumerate(visual.transformer.resblocks):
            if 1 <= j < depth:
                prompts = deep_prompts[j].unsqueeze(1).expand(-1, x.shape[1], -1)  # [n, B, W]
                x = torch.cat([x[:-n_prompts], prompts], dim=0)
            x = block(x)
        x = x.permute(1, 0, 2)  # LND -> NLD

        x = visual.ln_post(x[:, 0, :])  # [B, W]
        if visual.proj is not None:
            x = x @ visual.proj  # [B, D]
        return x
