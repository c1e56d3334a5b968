"""Find and load OpenAI CLIP weights, offline-friendly.

Where the weights come from, in order:

1. ``TRAINER.ENPROMPT.CLIP_WEIGHTS``: a local checkpoint file. This key names
   the CLIP weights for every trainer of this project (EnPrompt and the
   zero-shot baselines).
2. Otherwise the CLIP cache folder: ``$CLIP_CACHE_DIR`` if set, else
   ``~/.cache/clip`` (the folder the ``clip`` package uses), with the ``clip``
   package's file names (``ViT-B-16.pt``, ...).
3. A file missing from the cache is downloaded there from the ``clip``
   package's URL table, into a temporary file that is renamed once its
   SHA256 matches the one in the URL (as ``clip.load`` checks it), through
   :func:`enprompt.fileio.atomic_write`.

Accepted file formats: the official TorchScript archives, plain state dicts
(``torch.save(model.state_dict())``), and ``{"state_dict": ...}`` wrappers.
The architecture is inferred from the weights by the ``clip`` package's own
``build_model`` (also the vendored ``clip/`` of MaPLe and PromptSRC, whose
``build_model`` takes an extra ``design_details`` argument).

Every failure raises :class:`CLIPLoadError` with what to do about it.
"""
import hashlib
import importlib
import inspect
import os
import os.path as osp
import urllib.error
import urllib.request
import warnings
import zipfile

import torch

from enprompt.errors import UserError
from enprompt.fileio import atomic_write, sha256_of_file

__all__ = [
    "CLIP_CACHE_ENV",
    "VIT_BACKBONES",
    "CLIPLoadError",
    "default_cache_dir",
    "checkpoint_url",
    "checkpoint_filename",
    "resolve_clip_weights",
    "read_clip_state_dict",
    "build_clip_from_state_dict",
    "describe_clip",
    "load_clip",
    "load_clip_from_cfg",
]

# Environment variable naming the CLIP cache folder (default ~/.cache/clip).
CLIP_CACHE_ENV = "CLIP_CACHE_DIR"

# The OpenAI CLIP image encoders EnPrompt can prompt (MODEL.BACKBONE.NAME).
VIT_BACKBONES = ("ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px")

# design_details that make the vendored CLIP of MaPLe / PromptSRC the plain one.
_PLAIN_DESIGN_DETAILS = {
    "trainer": "CoOp",
    "vision_depth": 0,
    "language_depth": 0,
    "vision_ctx": 0,
    "language_ctx": 0,
}

_DOWNLOAD_CHUNK = 1 << 20


class CLIPLoadError(UserError, RuntimeError):
    """CLIP weights could not be found, downloaded, read or used."""


def default_cache_dir():
    """Folder of downloaded CLIP weights: ``$CLIP_CACHE_DIR`` or ``~/.cache/clip``."""
    folder = os.environ.get(CLIP_CACHE_ENV, "")
    return osp.expanduser(folder) if folder else osp.expanduser("~/.cache/clip")


def _is_resnet_name(backbone_name):
    return backbone_name.upper().startswith("RN")


def _url_table():
    # The clip package keeps its URL table in clip/clip.py (same in the
    # vendored copies of the CoOp family).
    return importlib.import_module("clip.clip")._MODELS


def _check_backbone_name(backbone_name):
    if _is_resnet_name(backbone_name):
        raise CLIPLoadError(
            f"MODEL.BACKBONE.NAME = {backbone_name!r} is a ResNet CLIP, which EnPrompt "
            "does not support: it prompts the ViT image encoder. Use one of "
            f"{list(VIT_BACKBONES)}."
        )


def checkpoint_url(backbone_name):
    """Download URL of an official CLIP checkpoint (from the ``clip`` package).

    Args:
        backbone_name (str): ``MODEL.BACKBONE.NAME``, e.g. ``"ViT-B/16"``.

    Raises:
        CLIPLoadError: ResNet or unknown name.
    """
    _check_backbone_name(backbone_name)
    table = _url_table()
    if backbone_name not in table or backbone_name not in VIT_BACKBONES:
        raise CLIPLoadError(
            f"MODEL.BACKBONE.NAME = {backbone_name!r} is not an OpenAI CLIP ViT; use one "
            f"of {list(VIT_BACKBONES)}, or set TRAINER.ENPROMPT.CLIP_WEIGHTS to a "
            "local CLIP checkpoint file."
        )
    return table[backbone_name]


def checkpoint_filename(backbone_name):
    """File name the ``clip`` package caches a backbone under (``ViT-B-16.pt``)."""
    return osp.basename(checkpoint_url(backbone_name))


def _download(url, target, expected_sha256):
    """Stream ``url`` into a temporary file next to ``target``; rename it once its SHA256 matches."""
    digest = hashlib.sha256()
    with atomic_write(target, "wb") as out, urllib.request.urlopen(url, timeout=60) as source:
        for chunk in iter(lambda: source.read(_DOWNLOAD_CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
        if digest.hexdigest() != expected_sha256:
            raise CLIPLoadError(
                f"Downloaded {url} but its SHA256 {digest.hexdigest()} differs from the "
                f"expected {expected_sha256}; the download is corrupt. Run again, or "
                f"download the file by hand to {target}."
            )


def resolve_clip_weights(backbone_name, weights_path="", cache_dir=None, download=True):
    """Path of the CLIP checkpoint to load, downloading it when needed.

    Args:
        backbone_name (str): ``MODEL.BACKBONE.NAME`` (one of ``VIT_BACKBONES``).
        weights_path (str): ``TRAINER.ENPROMPT.CLIP_WEIGHTS``; when non-empty it
            is used as is and nothing is downloaded.
        cache_dir (str, optional): cache folder; default :func:`default_cache_dir`.
        download (bool): download a missing cache file (else raise).

    Returns:
        str: an existing file.

    Raises:
        CLIPLoadError: missing local file, ResNet/unknown backbone, no network.
    """
    _check_backbone_name(backbone_name)
    if weights_path:
        path = osp.abspath(osp.expanduser(weights_path))
        if not osp.isfile(path):
            raise CLIPLoadError(
                f"TRAINER.ENPROMPT.CLIP_WEIGHTS = {weights_path!r}: no such file ({path}). "
                "Point it to a CLIP checkpoint (e.g. ViT-B-16.pt), or set it to \"\" to "
                f"use the CLIP cache folder (${CLIP_CACHE_ENV} or ~/.cache/clip)."
            )
        return path

    url = checkpoint_url(backbone_name)
    cache_dir = cache_dir or default_cache_dir()
    target = osp.join(cache_dir, osp.basename(url))
    expected_sha256 = url.split("/")[-2]
    if osp.isfile(target):
        if sha256_of_file(target) == expected_sha256:
            return target
        reason = f"{target} exists but its SHA256 does not match the official file"
    else:
        reason = f"{target} does not exist"

    where_to_put = (
        f"Download {url} on a machine with internet access and put it at {target} "
        f"(or set ${CLIP_CACHE_ENV} to the folder holding {osp.basename(url)}), or set "
        "TRAINER.ENPROMPT.CLIP_WEIGHTS to the path of the file."
    )
    if not download:
        raise CLIPLoadError(f"CLIP weights for {backbone_name} not found: {reason}. {where_to_put}")
    print(f"Downloading CLIP weights {backbone_name} from {url} to {target} ({reason})")
    try:
        _download(url, target, expected_sha256)
    except (urllib.error.URLError, OSError) as err:
        raise CLIPLoadError(
            f"CLIP weights for {backbone_name} are needed ({reason}) and could not be "
            f"downloaded ({err}). {where_to_put}"
        ) from err
    return target


def _is_torchscript_archive(path):
    # TorchScript archives hold a constants.pkl record; torch.save files do not.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/")[-1] == "constants.pkl" for name in archive.namelist())


def _unwrap_state_dict(obj, path):
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise CLIPLoadError(
            f"{path} does not hold a CLIP state dict (a dict of tensors, possibly under "
            "\"state_dict\"); check TRAINER.ENPROMPT.CLIP_WEIGHTS."
        )
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def read_clip_state_dict(path):
    """Read a CLIP checkpoint file into a state dict on the CPU.

    Args:
        path (str): a TorchScript archive (official files), a ``torch.save``'d
            state dict, or a ``{"state_dict": ...}`` wrapper.

    Returns:
        dict[str, Tensor]: parameter name -> tensor, ``module.`` prefixes removed.

    Raises:
        CLIPLoadError: unreadable/corrupt file or not a state dict.
    """
    try:
        if _is_torchscript_archive(path):
            with warnings.catch_warnings():
                # The official files are TorchScript; only their weights are used.
                warnings.simplefilter("ignore", FutureWarning)
                obj = torch.jit.load(path, map_location="cpu").state_dict()
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, pickle errors, EOFError, ...
        raise CLIPLoadError(
            f"Cannot read CLIP weights from {path}: {type(err).__name__}: {err}. The file "
            "is corrupt or not a PyTorch checkpoint; delete it and download it again, or "
            "point TRAINER.ENPROMPT.CLIP_WEIGHTS to a valid file."
        ) from err
    return _unwrap_state_dict(obj, path)


def _call_build_model(state_dict):
    build_model = importlib.import_module("clip.model").build_model
    required = [
        p
        for p in inspect.signature(build_model).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) >= 2:
        # MaPLe / PromptSRC vendored clip: build_model(state_dict, design_details)
        return build_model(state_dict, dict(_PLAIN_DESIGN_DETAILS))
    return build_model(state_dict)


def build_clip_from_state_dict(state_dict, source="<state dict>"):
    """Build the CLIP model the weights describe, with the ``clip`` package.

    Args:
        state_dict (dict[str, Tensor]): CLIP weights (not modified).
        source (str): where the weights came from, for error messages.

    Returns:
        clip.model.CLIP: on the CPU, in eval mode, with the native mixed
        fp16 weights ``build_model`` gives.

    Raises:
        CLIPLoadError: ResNet weights, or not a CLIP state dict.
    """
    if "visual.proj" not in state_dict:
        if any(k.startswith("visual.layer1.") for k in state_dict):
            raise CLIPLoadError(
                f"{source} holds a ResNet CLIP, which EnPrompt does not support: it "
                f"prompts the ViT image encoder. Use one of {list(VIT_BACKBONES)}."
            )
        raise CLIPLoadError(
            f"{source} is not a CLIP checkpoint (key 'visual.proj' missing); "
            "TRAINER.ENPROMPT.CLIP_WEIGHTS must name CLIP weights, not a trained "
            "EnPrompt checkpoint (those are loaded with --model-dir)."
        )
    try:
        model = _call_build_model(dict(state_dict))
    except (KeyError, RuntimeError, ValueError, IndexError) as err:
        raise CLIPLoadError(
            f"{source} does not describe a complete CLIP model: {type(err).__name__}: "
            f"{err}. Use an official OpenAI CLIP checkpoint."
        ) from err
    return model.cpu().eval()


def describe_clip(clip_model):
    """One-line summary of a CLIP ViT: widths, depths, resolution."""
    visual = clip_model.visual
    return (
        f"ViT image encoder: width {visual.conv1.out_channels}, "
        f"{len(visual.transformer.resblocks)} layers, patch {visual.conv1.kernel_size[0]}, "
        f"input {visual.input_resolution}px; text encoder: width "
        f"{clip_model.ln_final.normalized_shape[0]}, "
        f"{len(clip_model.transformer.resblocks)} layers; embedding {visual.output_dim}"
    )


def load_clip(backbone_name, weights_path="", cache_dir=None, download=True):
    """Load an OpenAI CLIP ViT on the CPU.

    Args:
        backbone_name (str): ``MODEL.BACKBONE.NAME``, one of ``VIT_BACKBONES``.
        weights_path (str): a local checkpoint file (``TRAINER.ENPROMPT.CLIP_WEIGHTS``);
            empty: use the cache folder (download if missing).
        cache_dir (str, optional): cache folder (default :func:`default_cache_dir`).
        download (bool): allow downloading a missing cache file.

    Returns:
        clip.model.CLIP: CPU, eval mode, native fp16 weights.
    """
    path = resolve_clip_weights(backbone_name, weights_path, cache_dir, download)
    model = build_clip_from_state_dict(read_clip_state_dict(path), source=path)
    print(f"Loaded CLIP {backbone_name} from {path} ({describe_clip(model)})")
    return model


def load_clip_from_cfg(cfg):
    """:func:`load_clip` with ``MODEL.BACKBONE.NAME`` and ``TRAINER.ENPROMPT.CLIP_WEIGHTS``."""
    return load_clip(cfg.MODEL.BACKBONE.NAME, cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS)


def load_clip_for_run(cfg, device):
    """Load CLIP as every trainer of this project starts: weights from the config,
    cast for ``TRAINER.ENPROMPT.PREC`` on ``device``.

    Returns:
        (clip.model.CLIP on the CPU, the precision actually used: fp16 becomes
        fp32 on a CPU, with one warning line).
    """
    from enprompt.model.precision import cast_clip_weights, resolve_precision

    print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
    clip_model = load_clip_from_cfg(cfg)
    precision = resolve_precision(cfg.TRAINER.ENPROMPT.PREC, device)
    cast_clip_weights(clip_model, precision)
    return clip_model, precision
