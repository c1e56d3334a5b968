"""Shared fixtures: a tiny random CLIP saved to disk like real weights, and one torch thread.

``tiny_clip_path`` is the file to pass as ``TRAINER.ENPROMPT.CLIP_WEIGHTS``
(or to :func:`enprompt.clip_loader.load_clip`), so every test loads CLIP
through the project's own loader, the path the official weights take;
``tiny_clip`` is that model, loaded. ``torch_single_thread`` (a test) and
``torch_single_thread_module`` (a module-scoped fixture) run with one
intra-op thread. The helper modules the tests share are listed in
``tests/__init__.py``.
"""
import contextlib

import pytest

from enprompt.tiny_clip import save_random_clip


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory):
    """Path of a seeded random "tiny" CLIP ViT (fp16 state dict, ~8 MB).

    Architecture: 224 px input, patch 32 (7x7 grid), vision width 64 with 12
    layers, text width 64 with 2 layers, embedding 64, context 77, vocab 49408.
    """
    path = tmp_path_factory.mktemp("clip_weights") / "tiny-ViT.pt"
    return save_random_clip(str(path), arch="tiny", seed=0)


@pytest.fixture
def tiny_clip(tiny_clip_path):
    """A fresh tiny CLIP loaded through the loader (native fp16 layout, CPU, eval)."""
    from enprompt.clip_loader import load_clip

    return load_clip("ViT-B/16", tiny_clip_path)


@contextlib.contextmanager
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def torch_single_thread():
    """Run a test with one intra-op thread.

    The tiny models' matrices are far too small to gain from several threads,
    and on a busy two-core machine idle-spinning worker threads make such
    tests several times slower.
    """
    with _one_torch_thread():
        yield


@pytest.fixture(scope="module")
def torch_single_thread_module():
    """``torch_single_thread`` for a module-scoped fixture: one thread until the test module ends."""
    with _one_torch_thread():
        yield
