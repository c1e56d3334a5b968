"""Frozen class text features T (docs/METHOD.md, step 1): templates, ensemble, caching."""
import clip
import pytest
import torch
import torch.nn.functional as F

from enprompt.model import ClassTextFeatures, encode_class_text_features
from enprompt.templates import (
    CUSTOM_TEMPLATES,
    IMAGENET_TEMPLATES,
    IMAGENET_TEMPLATES_SELECT,
    get_templates,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def count_text_encoder_calls(clip_model):
    """Count forward calls of CLIP's text transformer (the expensive part)."""
    calls = []
    clip_model.transformer.register_forward_hook(lambda *args: calls.append(1))
    return calls


def _clip_text(clip_model, texts):
    with torch.no_grad():
        return F.normalize(clip_model.encode_text(clip.tokenize(texts)).float(), dim=-1)


def test_custom_template_matches_clip_encode_text(tiny_clip):
    names = ["banded", "bubbly_pattern", "cracked"]
    features = encode_class_text_features(tiny_clip, names, ["{} texture."])
    expected = _clip_text(tiny_clip, ["banded texture.", "bubbly pattern texture.", "cracked texture."])
    assert features.dtype == torch.float32 and features.shape == (3, 64)
    assert torch.allclose(features.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert torch.allclose(features, expected, atol=1e-6)


def test_ensemble_is_normalised_mean_of_normalised_features(tiny_clip):
    names = ["cat", "dog"]
    templates = ["a photo of a {}.", "art of the {}.", "itap of a {}."]
    features = encode_class_text_features(tiny_clip, names, templates)
    per_template = torch.stack([_clip_text(tiny_clip, [t.format(n) for n in names]) for t in templates])
    expected = F.normalize(per_template.mean(dim=0), dim=-1)
    assert torch.allclose(features, expected, atol=1e-6)
    single = encode_class_text_features(tiny_clip, names, templates[:1])
    assert not torch.allclose(features, single)


def test_encoder_runs_once_per_class_list(tiny_clip):
    calls = count_text_encoder_calls(tiny_clip)
    bank = ClassTextFeatures(tiny_clip, ["a photo of a {}."])
    first = bank(["a", "b", "c"])
    assert len(calls) == 1
    for _ in range(3):
        assert torch.equal(bank(["a", "b", "c"]), first)
    assert len(calls) == 1
    bank(["d", "e"])
    assert len(calls) == 2
    bank(["a", "b", "c"])
    assert len(calls) == 2


def test_empty_inputs_are_refused(tiny_clip):
    with pytest.raises(ValueError, match="classnames is empty"):
        encode_class_text_features(tiny_clip, [], ["{}"])
    with pytest.raises(ValueError, match="templates is empty"):
        encode_class_text_features(tiny_clip, ["a"], [])


def test_templates_tables():
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert len(IMAGENET_TEMPLATES_SELECT) == 7
    assert set(IMAGENET_TEMPLATES_SELECT) <= set(IMAGENET_TEMPLATES)
    assert CUSTOM_TEMPLATES["DescribableTextures"] == "{} texture."
    assert len(CUSTOM_TEMPLATES) == 15
    assert get_templates("OxfordPets") == ["a photo of a {}, a type of pet."]
    ensemble = get_templates("OxfordPets", "ensemble")
    assert ensemble == IMAGENET_TEMPLATES_SELECT + ["a photo of a {}, a type of pet."]
    assert get_templates("ImageNet", "ensemble") == IMAGENET_TEMPLATES_SELECT
    assert len(get_templates("ImageNetV2", "ensemble")) == 8  # as CoOp's ZeroshotCLIP2


def test_template_errors_name_the_choices():
    with pytest.raises(ValueError, match="'custom', 'ensemble'"):
        get_templates("OxfordPets", "all80")
    with pytest.raises(ValueError, match="MyDataset.*known datasets"):
        get_templates("MyDataset")


def test_text_tower_moves_exactly_the_text_encoder(tiny_clip):
    """The tower moved by text_tower_on shares CLIP's own parameters, covers
    every text parameter and nothing of the image encoder (checked with a dtype
    conversion, which goes through the same Module._apply path as .to(device))."""
    from enprompt.model.text_features import _TextTower

    tower = _TextTower(tiny_clip)
    tower_ids = {id(p) for p in tower.parameters()}
    visual_ids = {id(p) for p in tiny_clip.visual.parameters()}
    everything = {id(p) for p in tiny_clip.parameters()}
    assert everything == tower_ids | visual_ids | {id(tiny_clip.logit_scale)}
    assert not tower_ids & visual_ids

    tower.double()
    assert tiny_clip.positional_embedding.dtype == torch.float64
    assert tiny_clip.text_projection.dtype == torch.float64
    assert tiny_clip.token_embedding.weight.dtype == torch.float64
    assert tiny_clip.visual.conv1.weight.dtype == torch.float16
