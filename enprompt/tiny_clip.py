"""Randomly initialised OpenAI-architecture CLIP models, saved like real weights.

Used by the tests, the demo and the benchmarks: a model built here is saved to
a file and loaded back through :mod:`enprompt.clip_loader`, the same path the
official weights take. No network, no downloaded weights.

Architectures (``ARCHITECTURES``): ``"tiny"`` (fast on a CPU, but with the
12 vision layers of ViT-B so that the real configs' ``PROMPT_DEPTH_VISION 9``
works) and the real shapes of ``ViT-B/16``, ``ViT-B/32``, ``ViT-L/14`` (random
values, for memory and checkpoint-size measurements).
"""
import warnings

import torch

from enprompt.fileio import atomic_write

__all__ = [
    "ARCHITECTURES",
    "build_random_clip",
    "save_random_clip",
]

# Arguments of clip.model.CLIP per architecture. Heads are width // 64, the
# rule clip.model.build_model uses when it rebuilds the model from weights.
ARCHITECTURES = {
    "tiny": dict(
        embed_dim=64,
        image_resolution=224,
        vision_layers=12,
        vision_width=64,
        vision_patch_size=32,  # 7x7 grid
        context_length=77,
        vocab_size=49408,
        transformer_width=64,
        transformer_heads=1,
        transformer_layers=2,
    ),
    "ViT-B/32": dict(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=32,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    ),
    "ViT-B/16": dict(
        embed_dim=512,
        image_resolution=224,
        vision_layers=12,
        vision_width=768,
        vision_patch_size=16,
        context_length=77,
        vocab_size=49408,
        transformer_width=512,
        transformer_heads=8,
        transformer_layers=12,
    ),
    "ViT-L/14": dict(
        embed_dim=768,
        image_resolution=224,
        vision_layers=24,
        vision_width=1024,
        vision_patch_size=14,
        context_length=77,
        vocab_size=49408,
        transformer_width=768,
        transformer_heads=12,
        transformer_layers=12,
    ),
}


def build_random_clip(arch="tiny", seed=0, half=True):
    """A ``clip.model.CLIP`` with seeded random weights, in eval mode on the CPU.

    The global RNG of the caller is left untouched.

    Args:
        arch (str): a key of ``ARCHITECTURES``.
        seed (int): initialisation seed.
        half (bool): convert to CLIP's native fp16 layout
            (``clip.model.convert_weights``), as the official weights are.
    """
    from clip.model import CLIP, convert_weights

    if arch not in ARCHITECTURES:
        raise ValueError(f"arch = {arch!r} is not known; choose one of {list(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(**ARCHITECTURES[arch])
    if half:
        convert_weights(model)
    return model.eval()


def _save_torchscript(model, f):
    # Trace the model as the official archives are TorchScript modules, with
    # the same extra entries they carry (input_resolution, context_length,
    # vocab_size), which clip.model.build_model removes again.
    import clip

    for name, value in [
        ("input_resolution", model.visual.input_resolution),
        ("context_length", model.context_length),
        ("vocab_size", model.vocab_size),
    ]:
        if hasattr(model, name):
            delattr(model, name)  # plain int attributes of clip.model.CLIP
        model.register_buffer(name, torch.tensor(value))
    size = model.visual.input_resolution
    images = torch.zeros(1, 3, size, size, dtype=model.dtype)
    text = clip.tokenize(["a photo of a cat."], context_length=int(model.context_length))
    with torch.no_grad(), warnings.catch_warnings():
        # The trace is only a container for the weights; its graph is never run.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        traced = torch.jit.trace(model, (images, text), check_trace=False)
        torch.jit.save(traced, f)


def save_random_clip(path, arch="tiny", seed=0, torchscript=False):
    """Save a random CLIP to ``path`` (atomically) and return ``path``.

    Args:
        path (str): destination file.
        arch (str): a key of ``ARCHITECTURES``.
        seed (int): initialisation seed.
        torchscript (bool): False: a plain fp16 state dict (``torch.save``);
            True: a traced TorchScript archive, the official files' format.
    """
    model = build_random_clip(arch, seed)
    with atomic_write(path, "wb") as f:
        if torchscript:
            _save_torchscript(model, f)
        else:
            torch.save(model.state_dict(), f)
    return path
