"""Data side of the engine: few-shot sampling, Datum, transforms, registries, config."""
import random

import pytest
import torch
import torchvision.transforms as T
from PIL import Image

import enprompt.engine
from enprompt.engine import (
    DatasetBase,
    Datum,
    Registry,
    build_transform,
    check_availability,
    get_cfg_default,
    set_random_seed,
)
from tests.configs import make_cfg
from tests.dassl_reference import fewshot_reference


@pytest.fixture
def items(tmp_path):
    # Labels interleaved so that "order of first appearance" matters: 2, 0, 1.
    out = []
    for i in range(30):
        label = [2, 0, 1][i % 3]
        path = tmp_path / f"{i:02d}.jpg"
        path.write_bytes(b"x")
        out.append(Datum(impath=str(path), label=label, classname=f"c{label}"))
    return out


def _reference_fewshot(items, k, seed):
    random.seed(seed)
    return fewshot_reference(items, k)


def test_fewshot_sampling_follows_dassl_for_the_same_seed(items):
    base = DatasetBase(train_x=items)
    set_random_seed(3)
    sampled = base.generate_fewshot_dataset(items, num_shots=4)
    assert sampled == _reference_fewshot(items, 4, seed=3)
    assert [d.label for d in sampled] == [2] * 4 + [0] * 4 + [1] * 4

    set_random_seed(3)
    assert base.generate_fewshot_dataset(items, num_shots=4) == sampled
    set_random_seed(4)
    assert base.generate_fewshot_dataset(items, num_shots=4) != sampled


def test_fewshot_small_classes_and_several_sources(items):
    base = DatasetBase(train_x=items)
    random.seed(0)
    everything = base.generate_fewshot_dataset(items, num_shots=50)
    assert everything == [d for lab in (2, 0, 1) for d in items if d.label == lab]
    random.seed(0)
    repeated = base.generate_fewshot_dataset(items[:3], num_shots=2, repeat=True)
    assert len(repeated) == 6
    train, val = base.generate_fewshot_dataset(items, items[:9], num_shots=2)
    assert len(train) == 6 and len(val) == 6
    assert base.generate_fewshot_dataset(items, num_shots=-1) is items


def test_num_classes_and_classnames_come_from_train_x(items):
    base = DatasetBase(train_x=items[:6], val=[], test=items)
    assert base.num_classes == 3
    assert base.classnames == ["c0", "c1", "c2"]
    assert base.lab2cname == {0: "c0", 1: "c1", 2: "c2"}
    with pytest.raises(ValueError, match="training list is empty"):
        DatasetBase(train_x=[])


def test_datum_checks_the_image_exists(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        Datum(impath=str(tmp_path / "nope.jpg"), label=0)


def _cfg(**input_keys):
    """The engine's defaults at 32 px, bicubic, then ``INPUT.<key> = value`` for each of ``input_keys``."""
    opts = ["INPUT.SIZE", (32, 32), "INPUT.INTERPOLATION", "bicubic"]
    for key, value in input_keys.items():
        opts += [f"INPUT.{key}", value]
    return make_cfg(*opts, engine=enprompt.engine, enprompt_keys=False)


def test_train_transform_order_matches_dassl():
    cfg = _cfg(TRANSFORMS=("random_resized_crop", "random_flip", "normalize"), RRCROP_SCALE=(0.5, 1.0))
    tfm = build_transform(cfg, is_train=True)
    kinds = [type(t) for t in tfm.transforms]
    assert kinds == [T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    assert tfm.transforms[0].scale == (0.5, 1.0)
    assert tfm.transforms[0].interpolation == T.InterpolationMode.BICUBIC
    # Without a crop, a plain resize to INPUT.SIZE comes first.
    plain = build_transform(_cfg(TRANSFORMS=("random_flip",)), is_train=True)
    assert [type(t) for t in plain.transforms] == [T.Resize, T.RandomHorizontalFlip, T.ToTensor]


def test_test_transform_resizes_shorter_side_then_center_crops():
    tfm = build_transform(_cfg(TRANSFORMS=("random_resized_crop", "normalize")), is_train=False)
    assert [type(t) for t in tfm.transforms] == [T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    img = Image.new("RGB", (64, 40), (255, 0, 0))
    out = tfm(img)
    assert out.shape == (3, 32, 32)
    assert tfm.transforms[0].size == 32  # an int: the shorter side, aspect kept


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match="imagenet_policy"):
        build_transform(_cfg(TRANSFORMS=("imagenet_policy",)), is_train=True)


def test_registry_errors_list_choices_and_closest_name():
    reg = Registry("THING")

    @reg.register()
    class OxfordPets:
        pass

    with pytest.raises(KeyError, match="already registered"):
        reg.register(OxfordPets)
    with pytest.raises(ValueError, match=r"\['OxfordPets'\].*\[OxfordPet\].*do you mean \[OxfordPets\]"):
        check_availability("OxfordPet", reg.registered_names())


def test_config_has_dassl_defaults_and_rejects_misspelt_keys():
    cfg = get_cfg_default()
    assert cfg.SEED == -1 and cfg.OPTIM.NAME == "adam" and cfg.OPTIM.WARMUP_RECOUNT is True
    assert cfg.DATALOADER.NUM_WORKERS == 4 and cfg.TEST.FINAL_MODEL == "last_step"
    assert tuple(cfg.INPUT.RRCROP_SCALE) == (0.08, 1.0)
    with pytest.raises((KeyError, AssertionError), match="OPTIM.MAX_EPOCHS"):
        cfg.merge_from_list(["OPTIM.MAX_EPOCHS", "5"])
    with pytest.raises(ValueError, match="mismatch"):
        cfg.merge_from_list(["OPTIM.MAX_EPOCH", "'five'"])
    assert get_cfg_default() is not get_cfg_default()


def test_seeding_covers_python_numpy_and_torch():
    import numpy as np

    set_random_seed(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_random_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_unreadable_image_error_names_the_file_and_the_readers_way_out(tmp_path, monkeypatch):
    from enprompt.engine import DataManager
    from tests.engine_toys import make_toy_images, register_toys, toy_cfg

    root = make_toy_images(str(tmp_path), n_per_class=2)
    bad = tmp_path / "toy" / "blue" / "000.png"
    bad.write_bytes(b"not a png")
    cfg = toy_cfg(root, str(tmp_path / "out"))
    cfg.freeze()
    with pytest.raises(OSError, match=r'Cannot read image ".*000\.png": .*re-extract the dataset\)\.$'):
        list(DataManager(cfg).test_loader)  # the engine alone names no option

    toy_colours, _ = register_toys()
    monkeypatch.setattr(toy_colours, "image_error_hint", "set TOY.SKIP True to skip it")
    with pytest.raises(OSError, match=r"re-extract the dataset\), or set TOY.SKIP True to skip it\.$"):
        list(DataManager(cfg).test_loader)
