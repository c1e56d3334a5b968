"""CLIP weight loading: formats, cache, download, and every failure message."""
import contextlib
import hashlib
import importlib
import os
import sys
import urllib.error

import clip
import pytest
import torch

from enprompt import clip_loader
from enprompt.clip_loader import CLIPLoadError, load_clip
from enprompt.tiny_clip import ARCHITECTURES, build_random_clip, save_random_clip
from tests.comparisons import assert_same_weights

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_plain_state_dict_gives_native_fp16_clip_on_cpu_in_eval(tiny_clip_path):
    model = load_clip("ViT-B/16", tiny_clip_path)
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    # native layout of build_model: conv/linear/projections half, layer norms float32
    assert model.visual.conv1.weight.dtype == torch.float16
    assert model.visual.proj.dtype == torch.float16
    assert model.text_projection.dtype == torch.float16
    assert model.visual.ln_pre.weight.dtype == torch.float32
    # architecture inferred from the weights, not from MODEL.BACKBONE.NAME
    arch = ARCHITECTURES["tiny"]
    assert model.visual.conv1.out_channels == arch["vision_width"]
    assert len(model.visual.transformer.resblocks) == arch["vision_layers"]
    assert model.visual.input_resolution == arch["image_resolution"]
    assert_same_weights(model, build_random_clip("tiny", seed=0))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_archive_loads_same_weights(tmp_path, tiny_clip_path):
    jit_path = save_random_clip(str(tmp_path / "tiny-jit.pt"), arch="tiny", seed=0, torchscript=True)
    # really a TorchScript archive, with the extra entries of the official files
    scripted = torch.jit.load(jit_path, map_location="cpu")
    assert "input_resolution" in scripted.state_dict()
    model = load_clip("ViT-B/16", jit_path)
    assert_same_weights(model, load_clip("ViT-B/16", tiny_clip_path))


def test_state_dict_wrapper_and_module_prefix(tmp_path, tiny_clip_path):
    state = torch.load(tiny_clip_path, weights_only=True)
    wrapped = {"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 3}
    path = tmp_path / "wrapped.pt"
    torch.save(wrapped, path)
    model = load_clip("ViT-B/16", str(path))
    assert_same_weights(model, load_clip("ViT-B/16", tiny_clip_path))


def test_seeded_random_clip_is_reproducible_and_seed_dependent():
    a = build_random_clip("tiny", seed=3).state_dict()
    b = build_random_clip("tiny", seed=3).state_dict()
    c = build_random_clip("tiny", seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["visual.proj"], c["visual.proj"])


def test_missing_local_file_names_key(tmp_path):
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(CLIPLoadError, match="TRAINER.ENPROMPT.CLIP_WEIGHTS") as info:
        load_clip("ViT-B/16", missing)
    assert "no such file" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncated"])
def test_corrupt_file(tmp_path, tiny_clip_path, content):
    path = tmp_path / "broken.pt"
    if content == "truncated":
        with open(tiny_clip_path, "rb") as f:
            content = f.read()[: 200_000]
    path.write_bytes(content)
    with pytest.raises(CLIPLoadError, match="Cannot read CLIP weights") as info:
        load_clip("ViT-B/16", str(path))
    assert "corrupt" in str(info.value)


def test_not_a_clip_checkpoint(tmp_path):
    path = tmp_path / "prompt_learner.pt"
    torch.save({"state_dict": {"enla.up.weight": torch.zeros(2, 2)}, "epoch": 5}, path)
    with pytest.raises(CLIPLoadError, match="not a CLIP checkpoint"):
        load_clip("ViT-B/16", str(path))


def test_resnet_backbone_name_is_refused_with_vit_choices(tiny_clip_path):
    with pytest.raises(CLIPLoadError, match="ResNet") as info:
        load_clip("RN50", tiny_clip_path)
    for name in clip_loader.VIT_BACKBONES:
        assert name in str(info.value)


def test_resnet_weights_are_refused(tmp_path):
    from clip.model import CLIP

    resnet_clip = CLIP(64, 64, (1, 1, 1, 1), 32, None, 77, 49408, 64, 1, 1)
    path = tmp_path / "rn.pt"
    torch.save(resnet_clip.state_dict(), path)
    with pytest.raises(CLIPLoadError, match="ResNet CLIP") as info:
        load_clip("ViT-B/16", str(path))
    assert "ViT-B/16" in str(info.value)


def test_unknown_backbone_name_without_weights(tmp_path):
    with pytest.raises(CLIPLoadError, match="not an OpenAI CLIP ViT"):
        load_clip("ViT-H/14", "", cache_dir=str(tmp_path))


def test_file_names_follow_clip_package():
    assert clip_loader.checkpoint_filename("ViT-B/16") == "ViT-B-16.pt"
    assert clip_loader.checkpoint_filename("ViT-L/14@336px") == "ViT-L-14-336px.pt"


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(tmp_path))
    assert clip_loader.default_cache_dir() == str(tmp_path)
    monkeypatch.delenv(clip_loader.CLIP_CACHE_ENV)
    assert clip_loader.default_cache_dir() == os.path.expanduser("~/.cache/clip")


@pytest.fixture
def fake_url(monkeypatch, tmp_path, tiny_clip_path):
    """Point the clip package's ViT-B/16 URL at a local file:// copy of the tiny
    weights, with the tiny file's SHA256 in the URL like the official ones."""
    sha = _sha256(tiny_clip_path)
    served = tmp_path / "server" / sha / "ViT-B-16.pt"
    served.parent.mkdir(parents=True)
    served.write_bytes(open(tiny_clip_path, "rb").read())
    table = dict(clip_loader._url_table())
    table["ViT-B/16"] = served.as_uri()
    monkeypatch.setattr(clip.clip, "_MODELS", table)
    return served


def test_cache_hit_needs_no_network(monkeypatch, tmp_path, fake_url):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ViT-B-16.pt").write_bytes(fake_url.read_bytes())
    fake_url.unlink()  # a download attempt would fail
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(cache))
    model = load_clip("ViT-B/16")
    assert model.visual.conv1.out_channels == ARCHITECTURES["tiny"]["vision_width"]


def test_download_into_cache_then_reuse(monkeypatch, tmp_path, fake_url):
    cache = tmp_path / "cache"
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(cache))
    load_clip("ViT-B/16")
    assert sorted(os.listdir(cache)) == ["ViT-B-16.pt"]  # no temporary file left
    assert (cache / "ViT-B-16.pt").read_bytes() == fake_url.read_bytes()
    fake_url.unlink()
    load_clip("ViT-B/16")  # second time: from the cache


def test_download_with_wrong_checksum_leaves_nothing(monkeypatch, tmp_path, fake_url):
    fake_url.write_bytes(b"tampered" + fake_url.read_bytes())
    cache = tmp_path / "cache"
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(cache))
    with pytest.raises(CLIPLoadError, match="SHA256"):
        load_clip("ViT-B/16")
    assert os.listdir(cache) == []


def test_no_network_says_where_to_put_the_file(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(clip_loader.urllib.request, "urlopen", offline)
    cache = tmp_path / "cache"
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(cache))
    with pytest.raises(CLIPLoadError, match="could not be downloaded") as info:
        load_clip("ViT-B/16")
    message = str(info.value)
    assert str(cache / "ViT-B-16.pt") in message
    assert "TRAINER.ENPROMPT.CLIP_WEIGHTS" in message
    assert "CLIP_CACHE_DIR" in message
    assert os.listdir(cache) == []


def test_cache_file_with_wrong_checksum_is_replaced(monkeypatch, tmp_path, fake_url):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ViT-B-16.pt").write_bytes(b"stale partial download")
    monkeypatch.setenv(clip_loader.CLIP_CACHE_ENV, str(cache))
    load_clip("ViT-B/16")
    assert (cache / "ViT-B-16.pt").read_bytes() == fake_url.read_bytes()


# The vendored clip/ of MaPLe and PromptSRC, reduced to what matters to the
# loader: build_model(state_dict, design_details) and a CLIP whose image
# encoder gets learnable prompt tokens when design_details asks for them.
# It wraps the clip package's CLIP (imported from its file under a private
# name, since the stand-in shadows the package itself).
_VENDORED_MODEL_PY = """
import importlib.util

import torch
from torch import nn

_spec = importlib.util.spec_from_file_location("_pip_clip_model", {pip_model_file!r})
_pip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pip)
convert_weights = _pip.convert_weights


class CLIP(_pip.CLIP):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length, vocab_size, transformer_width, transformer_heads, transformer_layers,
                 design_details):
        super().__init__(embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                         context_length, vocab_size, transformer_width, transformer_heads,
                         transformer_layers)
        self.design_details = dict(design_details)
        n_ctx = design_details["vision_ctx"] if design_details["vision_depth"] > 0 else 0
        if design_details["trainer"] != "CoOp" and n_ctx > 0:
            # shallow visual prompts, appended to the tokens entering layer 1
            self.visual.VPT = nn.Parameter(torch.randn(n_ctx, vision_width) * vision_width ** -0.5)
            self.visual.ln_pre.register_forward_hook(self._append_prompts)

    def _append_prompts(self, module, inputs, x):
        prompts = self.visual.VPT.to(x.dtype).expand(x.shape[0], -1, -1)
        return torch.cat([x, prompts], dim=1)


def _count_layers(state_dict, prefix):
    return len({{k.split(".")[len(prefix.split("."))] for k in state_dict if k.startswith(prefix + ".")}})


def build_model(state_dict: dict, design_details):
    patch = state_dict["visual.conv1.weight"].shape[-1]
    grid = round((state_dict["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = state_dict["ln_final.weight"].shape[0]
    model = CLIP(
        state_dict["text_projection"].shape[1], patch * grid,
        _count_layers(state_dict, "visual.transformer.resblocks"),
        state_dict["visual.conv1.weight"].shape[0], patch,
        state_dict["positional_embedding"].shape[0], state_dict["token_embedding.weight"].shape[0],
        text_width, text_width // 64, _count_layers(state_dict, "transformer.resblocks"),
        design_details,
    )
    for key in ("input_resolution", "context_length", "vocab_size"):
        state_dict.pop(key, None)
    convert_weights(model)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    assert not unexpected and all(k == "visual.VPT" for k in missing), (missing, unexpected)
    return model.eval()
"""


def _write_vendored_clip(folder):
    """Write the stand-in package ``folder/clip`` and return ``folder``."""
    package = folder / "clip"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .clip import *  # noqa: F401,F403\n")
    (package / "clip.py").write_text(
        "from .model import build_model  # noqa: F401\n"
        "_MODELS = {}  # no URLs: the weights are a local file\n"
    )
    (package / "model.py").write_text(_VENDORED_MODEL_PY.format(pip_model_file=clip.model.__file__))
    return str(folder)


@contextlib.contextmanager
def _clip_package_from(folder):
    """Let ``import clip`` find the package in ``folder`` (as in a MaPLe checkout,
    whose root holds ``clip/``), then give back the clip package of the session."""
    saved = {name: module for name, module in sys.modules.items() if name == "clip" or name.startswith("clip.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        yield importlib.import_module("clip")
    finally:
        sys.path.remove(folder)
        for name in [n for n in sys.modules if n == "clip" or n.startswith("clip.")]:
            del sys.modules[name]
        sys.modules.update(saved)


PLAIN_DESIGN_DETAILS = {"trainer": "CoOp", "vision_depth": 0, "language_depth": 0, "vision_ctx": 0, "language_ctx": 0}


def test_vendored_clip_with_design_details_builds_the_plain_clip(tmp_path, tiny_clip_path):
    """In MaPLe / PromptSRC checkouts ``import clip`` is their vendored copy,
    whose ``build_model(state_dict, design_details)`` needs the design; the
    loader asks it for the plain CLIP and gets the same model as with the
    clip package."""
    plain = load_clip("ViT-B/16", tiny_clip_path)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)).half()
    text = clip.tokenize(["banded texture.", "a photo of a bumpy texture."])

    with _clip_package_from(_write_vendored_clip(tmp_path / "maple")) as vendored:
        assert vendored is not clip and vendored.model.__file__.startswith(str(tmp_path))
        model = load_clip("ViT-B/16", tiny_clip_path)
        # Control: the same stand-in asked for prompts gives another model, so
        # the equalities below would catch a loader passing a prompted design.
        prompted = vendored.model.build_model(
            torch.load(tiny_clip_path, weights_only=True),
            dict(PLAIN_DESIGN_DETAILS, trainer="IVLP", vision_depth=1, vision_ctx=2),
        )
    assert sys.modules["clip"] is clip and sys.modules["clip.model"] is clip.model  # session's package back

    assert isinstance(model, vendored.model.CLIP) and not model.training
    assert model.design_details == PLAIN_DESIGN_DETAILS
    assert_same_weights(model, plain)  # same keys, values and native fp16 layout
    with torch.no_grad():
        assert torch.equal(model.encode_image(images), plain.encode_image(images))
        assert torch.equal(model.encode_text(text), plain.encode_text(text))
        assert "visual.VPT" in prompted.state_dict()
        assert not torch.allclose(prompted.encode_image(images), plain.encode_image(images))
