"""Frozen class text features ``T = [t_1..t_C]`` (docs/METHOD.md, step 1).

Each class name is put into the hand-crafted template(s) and encoded once by
CLIP's frozen text encoder::

    t_c = normalize(E_text(template(c)))                      # custom
    t_c = normalize(mean_k normalize(E_text(template_k(c))))  # ensemble

Nothing learnable touches the text encoder, so ``T`` depends only on the class
list and is computed once per class list (:class:`ClassTextFeatures` caches it
per class list). The text tower is not registered in any ``nn.Module`` of the
model: it stays on the CPU and is moved to the accelerator only while it
encodes (:func:`text_tower_on`).
"""
import contextlib

import clip
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "class_prompts",
    "text_tower_on",
    "encode_class_text_features",
    "ClassTextFeatures",
]

# Texts encoded per text-encoder call (bounds activation memory for 1000 classes x 8 templates).
TEXT_CHUNK_SIZE = 512


def class_prompts(classnames, template):
    """Prompts for one template: ``template.format(name)`` with ``_`` -> space.

    Args:
        classnames (list[str]): C class names.
        template (str): a string with one ``{}``.

    Returns:
        list[str]: C prompts.
    """
    return [template.format(name.replace("_", " ")) for name in classnames]


class _TextTower(nn.Module):
    """CLIP's text modules and parameters, shared (not copied), so that
    ``.to(device)`` moves exactly the text encoder of ``clip_model``."""

    def __init__(self, clip_model):
        super().__init__()
        self.token_embedding = clip_model.token_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.positional_embedding = clip_model.positional_embedding
        self.text_projection = clip_model.text_projection


@contextlib.contextmanager
def text_tower_on(clip_model, device):
    """Move CLIP's text encoder to ``device`` for the ``with`` block, then back.

    The image encoder and everything else of ``clip_model`` stay where they are.
    """
    tower = _TextTower(clip_model)
    home = clip_model.token_embedding.weight.device
    device = torch.device(device)
    if device == home:
        yield clip_model
        return
    tower.to(device)
    try:
        yield clip_model
    finally:
        tower.to(home)
        if device.type == "cuda":
            # The tower's weights and activations are freed now; also hand the
            # blocks the caching allocator kept for them back to the driver
            # (once per class list), so the device holds only the image side.
            torch.cuda.empty_cache()


@torch.no_grad()
def encode_class_text_features(clip_model, classnames, templates, device=None):
    """Encode the class list with the frozen CLIP text encoder.

    Args:
        clip_model (clip.model.CLIP): frozen CLIP; its text tower may sit on
            the CPU, it is moved to ``device`` only for this call.
        classnames (list[str]): C class names (``_`` becomes a space).
        templates (list[str]): K >= 1 templates. With K > 1 the features are
            averaged over templates after L2 normalisation and renormalised.
        device (torch.device, optional): where to run the encoder (default:
            where the text tower is).

    Returns:
        Tensor: ``T`` of shape [C, D], float32, rows of unit L2 norm, on ``device``.
    """
    if not classnames:
        raise ValueError("classnames is empty: the model needs at least one class")
    if not templates:
        raise ValueError("templates is empty: give at least one template with '{}'")
    device = torch.device(device) if device is not None else clip_model.token_embedding.weight.device
    per_template = []
    with text_tower_on(clip_model, device):
        for template in templates:
            tokens = clip.tokenize(class_prompts(classnames, template), context_length=clip_model.context_length)
            features = torch.cat(
                [
                    clip_model.encode_text(chunk.to(device)).float()
                    for chunk in tokens.split(TEXT_CHUNK_SIZE)
                ]
            )
            per_template.append(F.normalize(features, dim=-1))  # [C, D]
    if len(per_template) == 1:
        return per_template[0]
    return F.normalize(torch.stack(per_template).mean(dim=0), dim=-1)


class ClassTextFeatures:
    """Frozen text features per class list, computed once and cached.

    Not an ``nn.Module`` on purpose: it holds the CLIP text tower, which must
    not follow the model to the accelerator nor appear in its state dict.

    Args:
        clip_model (clip.model.CLIP): frozen CLIP (the text tower is used).
        templates (list[str]): templates, see :func:`encode_class_text_features`.
    """

    def __init__(self, clip_model, templates):
        self.clip_model = clip_model
        self.templates = list(templates)
        self._cache = {}  # tuple(classnames) -> [C, D] float32 on the CPU

    def __call__(self, classnames, device=None):
        """``T`` [C, D] (float32, unit rows) for ``classnames``, on ``device``.

        The text encoder runs only the first time a class list is seen.
        """
        key = tuple(classnames)
        if key not in self._cache:
            features = encode_class_text_features(self.clip_model, list(key), self.templates, device)
            self._cache[key] = features.cpu()
        return self._cache[key].to(device) if device is not None else self._cache[key].clone()
