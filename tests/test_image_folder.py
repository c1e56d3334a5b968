"""A folder of your own images (reader ``ImageFolder``): both layouts, the split
by its own seed, class names, few-shot and base/new through the shared code, the
config checks, and ``python -m enprompt.data check image_folder``."""
import json
import os
import os.path as osp
import random
import shutil
from collections import Counter

import pytest
from PIL import Image

import datasets  # noqa: F401  (registers the readers)
from enprompt.config import check_common_cfg
from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import DatasetNotReadyError, split_counts
from enprompt.data.__main__ import main as data_main
from enprompt.templates import IMAGENET_TEMPLATES_SELECT, cfg_templates
from tests.child_process import modules_loaded_by
from tests.configs import make_cfg

CLASSES = ["golden_retriever", "parrot", "tabby_cat"]


def write_image(path, shade=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 8), (shade % 256, 60, 120)).save(path)


def make_flat(folder, classes=CLASSES, n=7):
    """``folder/<class>/<i>.jpg`` and a README.txt in the first class (not an image)."""
    for c, name in enumerate(classes):
        for i in range(n):
            write_image(osp.join(folder, name, f"{i:02d}.jpg"), 10 * i + c)
    with open(osp.join(folder, classes[0], "README.txt"), "w") as f:
        f.write("not an image")
    return folder


def make_given(folder, classes=CLASSES, counts=(3, 1, 2), parts=("train", "val", "test")):
    for part, n in zip(("train", "val", "test"), counts):
        if part not in parts:
            continue
        for c, name in enumerate(classes):
            for i in range(n):
                write_image(osp.join(folder, part, name, f"{part}_{i}.png"), 20 * i + c)
    return folder


def folder_cfg(root, folder, seed=1, num_shots=-1, subsample="all", **image_folder):
    """The config a reader gets for ``DATASET.IMAGE_FOLDER.DIR folder`` (and ``image_folder`` keys)."""
    opts = [("DATASET.ROOT", str(root)), ("DATASET.NAME", "ImageFolder"),
            ("DATASET.IMAGE_FOLDER.DIR", str(folder)), ("DATASET.NUM_SHOTS", num_shots),
            ("DATASET.SUBSAMPLE_CLASSES", subsample), ("SEED", seed)]
    opts += [(f"DATASET.IMAGE_FOLDER.{key}", value) for key, value in image_folder.items()]
    return make_cfg(*[v for pair in opts for v in pair])


def read(root, folder, seed=1, **kwargs):
    random.seed(seed)  # as train.py's set_random_seed
    return DATASET_REGISTRY.get("ImageFolder")(folder_cfg(root, folder, seed, **kwargs))


def rel(items, folder):
    return [(osp.relpath(d.impath, str(folder)), d.label, d.classname) for d in items]


# ---------------------------------------------------------------- flat layout
def test_flat_folder_is_split_per_class_once_and_reused(tmp_path):
    folder = make_flat(str(tmp_path / "pets"))
    ds = read(tmp_path, "pets")
    assert ds.classnames == ["golden retriever", "parrot", "tabby cat"]
    n_train, n_val, n_test = split_counts(7, 0.5, 0.2)
    for items, n in ((ds.train_x, n_train), (ds.val, n_val), (ds.test, n_test)):
        assert Counter(d.label for d in items) == {0: n, 1: n, 2: n}
    everything = {d.impath for d in ds.train_x + ds.val + ds.test}
    assert len(everything) == 21 and not any(p.endswith("README.txt") for p in everything)

    split_file = osp.join(folder, "split_image_folder.json")
    assert ds.split_path == split_file
    with open(split_file) as f:
        saved = json.load(f)
    assert saved["rule"] == {"seed": 1, "p_train": 0.5, "p_val": 0.2}
    assert [tuple(r) for r in saved["test"]] == rel(ds.test, folder)  # CoOp's format, relative paths

    os.chmod(folder, 0o555)  # nothing may be written again: the split file is read
    try:
        again = read(tmp_path, "pets")
    finally:
        os.chmod(folder, 0o755)
    assert rel(again.test, folder) == rel(ds.test, folder)


def test_split_depends_on_its_own_seed_not_the_runs_seed(tmp_path):
    splits = {}
    for name, run_seed, split_seed in (("a", 1, 1), ("b", 2, 1), ("c", 1, 2)):
        folder = make_flat(str(tmp_path / name))
        ds = read(tmp_path, name, seed=run_seed, SPLIT_SEED=split_seed)
        splits[name] = rel(ds.train_x + ds.val + ds.test, folder)
    assert splits["a"] == splits["b"]  # other run seed, same split (folder copies, same files)
    assert splits["a"] != splits["c"]


def test_class_names_from_classnames_txt(tmp_path):
    folder = make_flat(str(tmp_path / "pets"))
    with open(osp.join(folder, "classnames.txt"), "w") as f:
        f.write("tabby_cat\ta tabby cat\ngolden_retriever\tgolden retriever dog\n\nparrot\tparrot\n")
    ds = read(tmp_path, osp.join(str(tmp_path), "pets"))  # absolute DIR
    assert ds.classnames == ["golden retriever dog", "parrot", "a tabby cat"]  # sorted folders

    with open(osp.join(folder, "classnames.txt"), "w") as f:
        f.write("tabby_cat\tcat\nparrot\tbird\n")
    with pytest.raises(DatasetNotReadyError, match=r"no line for the class folder\(s\) \['golden_retriever'\]"):
        read(tmp_path, "pets")


def test_changed_folder_or_rule_against_the_split_file(tmp_path, capsys):
    folder = make_flat(str(tmp_path / "pets"))
    read(tmp_path, "pets", num_shots=2)
    with pytest.raises(DatasetNotReadyError, match="made with 50%/20%/30% .* SPLIT_SEED 1, but the config asks for .*SPLIT_SEED 3"):
        read(tmp_path, "pets", SPLIT_SEED=3)

    write_image(osp.join(folder, "parrot", "new.jpg"))
    capsys.readouterr()
    read(tmp_path, "pets")
    assert "1 image(s) of" in capsys.readouterr().out  # added images are named, not silently used

    make_flat(folder, classes=["zebra"])
    with pytest.raises(DatasetNotReadyError, match=r"classes changed since the split was made: in the folder only: \['zebra \(zebra\)'\]"):
        read(tmp_path, "pets")

    # Split again: the stale few-shot cache goes with the old split.
    os.remove(osp.join(folder, "split_image_folder.json"))
    assert os.listdir(osp.join(folder, "split_fewshot")) == ["shot_2-seed_1.json"]
    ds = read(tmp_path, "pets")
    assert ds.num_classes == 4 and os.listdir(osp.join(folder, "split_fewshot")) == []


def test_fewshot_and_base_new_on_an_image_folder(tmp_path):
    folder = make_flat(str(tmp_path / "pets"), classes=CLASSES + ["zebra"], n=10)
    ds = read(tmp_path, "pets", num_shots=2, subsample="base")
    assert ds.classnames == ["golden retriever", "parrot"]  # first ceil(4/2)
    assert Counter(d.label for d in ds.train_x) == {0: 2, 1: 2}
    assert osp.isfile(osp.join(folder, "split_fewshot", "shot_2-seed_1.json"))
    new = read(tmp_path, "pets", num_shots=2, subsample="new")
    assert new.classnames == ["tabby cat", "zebra"]
    assert {d.classname for d in new.test} == {"tabby cat", "zebra"}


def test_unreadable_image_is_skipped_when_asked(tmp_path):
    folder = make_flat(str(tmp_path / "pets"), n=8)
    with open(osp.join(folder, "parrot", "broken.jpg"), "w") as f:
        f.write("not a jpeg")
    cfg = folder_cfg(tmp_path, "pets")
    cfg.DATALOADER.SKIP_BAD_IMAGES = True
    with pytest.warns(UserWarning, match="Skipped 1 unreadable image"):
        ds = DATASET_REGISTRY.get("ImageFolder")(cfg)
    assert not any(d.impath.endswith("broken.jpg") for d in ds.train_x + ds.val + ds.test)


# ---------------------------------------------------------------- given layout
def test_given_train_val_test_folders_are_used_as_given(tmp_path):
    folder = make_given(str(tmp_path / "given"))
    ds = read(tmp_path, "given")
    assert ds.classnames == ["golden retriever", "parrot", "tabby cat"]
    for part, items in (("train", ds.train_x), ("val", ds.val), ("test", ds.test)):
        expected = sorted(
            (osp.join(part, c, name), label, c.replace("_", " "))
            for label, c in enumerate(CLASSES) for name in os.listdir(osp.join(folder, part, c))
        )
        assert sorted(rel(items, folder)) == expected
    assert ds.split_path is None and not osp.exists(osp.join(folder, "split_image_folder.json"))


def test_given_layout_without_val_uses_test_as_val(tmp_path):
    make_given(str(tmp_path / "given"), parts=("train", "test"))
    ds = read(tmp_path, "given", num_shots=1)
    assert ds.val is ds.test and len(ds.train_x) == 3


def test_fewshot_cache_with_other_labels_is_refused(tmp_path):
    folder = make_given(str(tmp_path / "given"), counts=(4, 1, 2))
    read(tmp_path, "given", num_shots=4)
    make_given(folder, classes=["aardvark"])  # sorted first: every other label moves up by one
    with pytest.raises(DatasetNotReadyError, match="drawn from another split"):
        read(tmp_path, "given", num_shots=4)


# ---------------------------------------------------------------- config and templates
@pytest.mark.parametrize("key,value,message", [
    ("DIR", "", "DATASET.IMAGE_FOLDER.DIR = '' is invalid: set it to your image folder"),
    ("TEMPLATE", "a photo", r"TEMPLATE = 'a photo' is invalid: expected one \{\}"),
    ("P_VAL", 0.6, r"P_TRAIN \+ P_VAL must be < 1"),
    ("SPLIT_SEED", -1, "expected an integer >= 0"),
])
def test_image_folder_keys_are_checked(key, value, message):
    cfg = folder_cfg("", "pets")
    cfg.DATASET.IMAGE_FOLDER[key] = value
    with pytest.raises(ValueError, match=message):
        check_common_cfg(cfg)


def test_the_folder_template_makes_the_text_features():
    cfg = folder_cfg("", "pets", TEMPLATE="a close-up photo of a {}.")
    assert cfg_templates(cfg) == ["a close-up photo of a {}."]
    cfg.TRAINER.ENPROMPT.TEMPLATES = "ensemble"
    assert cfg_templates(cfg) == IMAGENET_TEMPLATES_SELECT + ["a close-up photo of a {}."]
    assert cfg_templates(folder_cfg("", "pets")) == ["a photo of a {}."]


# ---------------------------------------------------------------- check command
def _check(capsys, *argv):
    code = data_main(["check", "image_folder", *argv])
    return code, capsys.readouterr().out


def test_check_reports_a_ready_folder(tmp_path, capsys):
    make_flat(str(tmp_path / "pets"))
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "pets", "--shots", "4")
    assert code == 0 and "image_folder: ready" in out  # 7 images: 4 train per class
    make_flat(str(tmp_path / "pets"), classes=["zebra"], n=12)  # 6 train images
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "pets", "--shots", "5")
    assert code == 1 and "tabby_cat (4); all of their images are used, so the classes are not balanced" in out


def test_check_explains_what_is_wrong(tmp_path, capsys):
    folder = make_flat(str(tmp_path / "pets"))
    os.makedirs(osp.join(folder, "empty_class"))
    with open(osp.join(folder, "empty_class", "notes.txt"), "w") as f:
        f.write("x")
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "pets")
    assert code == 1 and "image_folder: NOT READY (docs/DATASETS.md#your-own-image-folder)" in out
    assert f"{osp.join(folder, 'empty_class')}: this class folder holds no images" in out
    assert "its files ['notes.txt'] are not images" in out

    shutil.rmtree(osp.join(folder, "empty_class"))
    with open(osp.join(folder, "parrot", "broken.jpg"), "w") as f:
        f.write("not a jpeg")
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "pets", "--shots", "16")
    assert code == 1
    assert "1 of the 22 images cannot be decoded" in out and "parrot/broken.jpg" in out
    assert "DATALOADER.SKIP_BAD_IMAGES True" in out
    assert ("3 class(es) have fewer training images than the 16 shots asked for: "
            "golden_retriever (4), parrot (4), tabby_cat (4); all of their images are used\n" in out
            and "train with at most 4 shots" in out)
    code, out = _check(capsys, "--quick", "--root", str(tmp_path), "--dir", "pets")
    assert code == 0  # --quick decodes nothing


def test_check_layout_mistakes(tmp_path, capsys):
    make_flat(str(tmp_path / "small"), n=3)
    write_image(str(tmp_path / "small" / "stray.jpg"))
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "small")
    assert code == 1 and "1 image(s) lie directly in this folder (e.g. stray.jpg)" in out
    os.remove(tmp_path / "small" / "stray.jpg")
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "small")
    assert "3 class(es) have fewer than 4 images, the fewest a 50%/20%/30%" in out

    make_given(str(tmp_path / "given"), parts=("train", "val"))
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "given")
    assert code == 1 and f"{tmp_path / 'given' / 'test'}: folder not found" in out
    code, out = _check(capsys, "--root", str(tmp_path), "--dir", "nowhere")
    assert "DATASET.IMAGE_FOLDER.DIR = 'nowhere' names no folder" in out
    with pytest.raises(SystemExit, match="image_folder needs --dir"):
        data_main(["check", "image_folder", "--root", str(tmp_path)])


def test_check_of_an_image_folder_imports_no_torch(tmp_path):
    make_flat(str(tmp_path / "pets"))
    statement = ("from enprompt.data.__main__ import main; "
                 f"assert main(['check', 'image_folder', '--dir', {str(tmp_path / 'pets')!r}]) == 0")
    assert modules_loaded_by(statement, ["torch", "torchvision", "enprompt.dassl"]) == []
