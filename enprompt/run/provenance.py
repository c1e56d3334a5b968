"""Where a run's inputs came from: file hashes, the CLIP weights, versions, the git commit.

All plain Python, so that a run's identity is known before PyTorch is
imported. SHA256 sums of large files (CLIP weights are 335 MB to 900 MB)
are cached in ``$ENPROMPT_CACHE_DIR/sha256.json`` (default
``~/.cache/enprompt``), keyed by absolute path, size and modification time,
so each file is read once.
"""
import importlib.metadata
import json
import os
import os.path as osp
import platform
import socket
import subprocess

from enprompt.fileio import atomic_write, sha256_of_file

__all__ = [
    "OFFICIAL_CLIP_FILES",
    "cache_dir",
    "file_sha256",
    "file_record",
    "clip_weights_sha256",
    "package_versions",
    "git_commit",
    "environment",
]

# The OpenAI CLIP ViT checkpoints: file name in the CLIP cache and its
# SHA256, as published in the download URLs of the ``clip`` package
# (clip/clip.py ``_MODELS``; a test checks that the two agree). The loader
# verifies a cached file against this sum, so the sum identifies the weights.
OFFICIAL_CLIP_FILES = {
    "ViT-B/32": ("ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
    "ViT-B/16": ("ViT-B-16.pt", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"),
    "ViT-L/14": ("ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"),
    "ViT-L/14@336px": (
        "ViT-L-14-336px.pt", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
    ),
}


def cache_dir():
    """``$ENPROMPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/enprompt``, else ``~/.cache/enprompt``."""
    if os.environ.get("ENPROMPT_CACHE_DIR"):
        return osp.expanduser(os.environ["ENPROMPT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or osp.expanduser("~/.cache")
    return osp.join(base, "enprompt")


def _read_cache(path):
    try:
        with open(path, encoding="utf-8") as f:
            cache = json.load(f)
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs a re-hash


def file_sha256(path, use_cache=True):
    """SHA256 of a file, hex.

    Args:
        path (str): the file.
        use_cache (bool): reuse (and record) the sum in the cache when the
            file's size and modification time are unchanged. Small files are
            hashed directly.

    Raises:
        FileNotFoundError: no such file.
    """
    path = osp.abspath(path)
    stat = os.stat(path)
    if not use_cache or stat.st_size < (8 << 20):
        return sha256_of_file(path)
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    cache_file = osp.join(cache_dir(), "sha256.json")
    cache = _read_cache(cache_file)
    entry = cache.get(path)
    if isinstance(entry, dict) and entry.get("key") == key and entry.get("sha256"):
        return entry["sha256"]
    digest = sha256_of_file(path)
    cache[path] = {"key": key, "sha256": digest}
    try:
        with atomic_write(cache_file, "w", encoding="utf-8") as f:
            json.dump(cache, f, indent=1, sort_keys=True)
    except OSError:
        pass  # read-only home: the sum is still right, only not remembered
    return digest


def file_record(path, relative_to=None):
    """``{"path": ..., "sha256": ...}`` of a file, or None if it does not exist.

    The path is stored relative to ``relative_to`` when the file lies inside it.
    """
    if not path or not osp.isfile(path):
        return None
    shown = path
    if relative_to:
        rel = osp.relpath(osp.abspath(path), osp.abspath(relative_to))
        if not rel.startswith(".."):
            shown = rel
    return {"path": shown, "sha256": file_sha256(path)}


def clip_weights_sha256(weights_file, backbone_name):
    """SHA256 of the CLIP weights a run uses.

    Args:
        weights_file (str): ``TRAINER.ENPROMPT.CLIP_WEIGHTS`` ("" = the CLIP cache).
        backbone_name (str): ``MODEL.BACKBONE.NAME``.

    Returns:
        str or None: the file's sum for a local file; the published sum for an
        official backbone read from the cache; None when neither applies (the
        loader then reports what is wrong).
    """
    if weights_file:
        path = osp.expanduser(weights_file)
        return file_sha256(path) if osp.isfile(path) else None
    official = OFFICIAL_CLIP_FILES.get(backbone_name)
    return official[1] if official else None


def _distribution_version(*names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def package_versions():
    """Versions of the packages that decide a run's numbers (None when absent)."""
    from enprompt.version import __version__

    return {
        "enprompt": __version__,
        "python": platform.python_version(),
        "torch": _distribution_version("torch"),
        "torchvision": _distribution_version("torchvision"),
        "clip": _distribution_version("clip-anytorch", "openai-clip", "clip"),
        "pot": _distribution_version("pot", "POT"),
        "numpy": _distribution_version("numpy"),
    }


def git_commit(path=None):
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``path``
    (default: this package), or None outside a checkout or without git."""
    folder = path or osp.dirname(osp.dirname(osp.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def environment(engine):
    """What a run ran on: engine, package versions, git commit, host."""
    return {
        "engine": engine,
        "versions": package_versions(),
        "git": git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
