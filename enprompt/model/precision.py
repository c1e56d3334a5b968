"""Numerical precision of the frozen CLIP (``TRAINER.ENPROMPT.PREC``, docs/METHOD.md, step 9).

* ``fp16``: CLIP's native weights as ``clip.model.build_model`` gives them
  (linear/conv/attention weights and projections in half, the rest float32),
  the CoOp-family default. Not usable on a CPU: falls back to ``fp32`` with
  one warning line.
* ``fp32``: everything float32.
* ``amp``: float32 weights, forward under ``torch.autocast`` (float16), loss
  scaled by ``torch.amp.GradScaler``.
* ``bf16``: CLIP's native layout with bfloat16 where it has float16 (layer
  norms stay float32, as CLIP's ``LayerNorm`` computes in float32), forward
  under ``torch.autocast`` (bfloat16).

Learnable parameters are never cast: they stay float32 and are cast where
they are injected into the tower. The logits, the cross-entropy and the OT
loss are computed in float32 whatever the precision (:func:`autocast_off`).
"""
import contextlib

import torch
import torch.nn as nn

from enprompt.choices import PRECISIONS, check_choice

__all__ = [
    "PRECISIONS",
    "resolve_precision",
    "cast_clip_weights",
    "autocast_for",
    "autocast_off",
    "autocast_state",
]


def resolve_precision(prec, device):
    """Precision to use on ``device``: ``prec``, except fp16 on a CPU -> fp32.

    Prints one warning line when it falls back.

    Args:
        prec (str): one of ``PRECISIONS``.
        device (torch.device | str): where the model runs.

    Returns:
        str: the effective precision.
    """
    check_choice("TRAINER.ENPROMPT.PREC", prec)
    device = torch.device(device)
    if prec == "fp16" and device.type == "cpu":
        print(
            "Warning: TRAINER.ENPROMPT.PREC fp16 is not supported on the CPU; "
            "using fp32 instead (set TRAINER.ENPROMPT.PREC fp32 to silence this)"
        )
        return "fp32"
    return prec


def _cast_native_layout(model, dtype):
    # The parameters CLIP stores in half precision: weights and biases of
    # conv/linear layers, attention projections, and the two output projections.
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(dtype)
        if isinstance(module, nn.MultiheadAttention):
            for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight",
                         "in_proj_bias", "bias_k", "bias_v"):
                tensor = getattr(module, name, None)
                if tensor is not None:
                    tensor.data = tensor.data.to(dtype)
        for name in ("text_projection", "proj"):
            tensor = getattr(module, name, None)
            if isinstance(tensor, torch.Tensor):
                tensor.data = tensor.data.to(dtype)


def cast_clip_weights(clip_model, prec):
    """Cast a loaded CLIP (native fp16 layout) in place for ``prec``.

    Args:
        clip_model (clip.model.CLIP): as returned by the loader.
        prec (str): an effective precision (see :func:`resolve_precision`).

    Returns:
        The same ``clip_model``.
    """
    check_choice("TRAINER.ENPROMPT.PREC", prec)
    if prec == "fp16":
        return clip_model
    clip_model.float()
    if prec == "bf16":
        _cast_native_layout(clip_model, torch.bfloat16)
    return clip_model


def autocast_for(prec, device):
    """Context manager for the forward pass under ``prec`` on ``device``.

    ``amp`` -> autocast float16, ``bf16`` -> autocast bfloat16, else no autocast.
    """
    device_type = torch.device(device).type
    if prec == "amp":
        return torch.autocast(device_type=device_type, dtype=torch.float16)
    if prec == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def autocast_off(device_type):
    """Context manager that disables autocast on ``device_type`` (e.g. ``"cuda"``).

    For the parts computed in float32 under every precision: autocast would
    recast their matrix products to float16 / bfloat16.
    """
    return torch.autocast(device_type=device_type, enabled=False)


def autocast_state(device_type):
    """``(enabled, dtype)`` of autocast on ``device_type`` at this point.

    Works across PyTorch versions (``torch.get_autocast_dtype`` is 2.4+).
    """
    if hasattr(torch, "get_autocast_dtype"):
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    if device_type == "cpu":
        return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    return torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
