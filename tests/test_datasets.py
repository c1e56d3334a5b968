"""The 15 dataset readers on fake data in the real layouts: classes, names, splits,
base/new halves, published split files and the clear errors of a half-prepared folder."""
import json
import os
import os.path as osp
import random
import shutil
from collections import Counter

import pytest
import yaml

import datasets  # noqa: F401  (registers the readers)
from enprompt.dassl import DATASET_REGISTRY
from enprompt.data import LAYOUTS, DatasetNotReadyError, FewShotWarning
from tests.fake_data import FAKE_BUILDERS, make_dataset, make_dtd, read_dataset
from tests.paths import DATASET_CONFIGS, dataset_config

# CoOp's registered names and dataset folders (reference table 1.2), written
# out here so that the test does not just compare the catalog with itself.
COOP_NAMES_AND_FOLDERS = {
    "imagenet": ("ImageNet", "imagenet"),
    "caltech101": ("Caltech101", "caltech-101"),
    "oxford_pets": ("OxfordPets", "oxford_pets"),
    "stanford_cars": ("StanfordCars", "stanford_cars"),
    "oxford_flowers": ("OxfordFlowers", "oxford_flowers"),
    "food101": ("Food101", "food-101"),
    "fgvc_aircraft": ("FGVCAircraft", "fgvc_aircraft"),
    "sun397": ("SUN397", "sun397"),
    "dtd": ("DescribableTextures", "dtd"),
    "eurosat": ("EuroSAT", "eurosat"),
    "ucf101": ("UCF101", "ucf101"),
    "imagenetv2": ("ImageNetV2", "imagenetv2"),
    "imagenet_sketch": ("ImageNetSketch", "imagenet-sketch"),
    "imagenet_a": ("ImageNetA", "imagenet-adversarial"),
    "imagenet_r": ("ImageNetR", "imagenet-rendition"),
}

TEST_ONLY = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")

# Images per class in (train, val, test) for the default fake sizes. The 50/20/30
# split of 5 images is 2/1/2 because round(2.5) == 2 (banker's rounding, as CoOp);
# the 80/20 split of 4 trainval images is 3/1. None: no val set.
PER_CLASS = {
    "imagenet": (3, 2, 2),  # val is the test set
    "caltech101": (2, 1, 2),
    "oxford_pets": (3, 1, 2),
    "stanford_cars": (3, 1, 2),
    "oxford_flowers": (2, 1, 2),
    "food101": (2, 1, 2),
    "fgvc_aircraft": (2, 2, 2),
    "sun397": (3, 1, 2),
    "dtd": (2, 1, 2),
    "eurosat": (2, 1, 2),
    "ucf101": (3, 1, 2),
    "imagenetv2": (2, None, 2),
    "imagenet_sketch": (2, None, 2),
    "imagenet_a": (2, None, 2),
    "imagenet_r": (2, None, 2),
}


def _records(items, root):
    return [(osp.relpath(d.impath, str(root)), d.label, d.classname) for d in items]


@pytest.mark.parametrize("name", sorted(COOP_NAMES_AND_FOLDERS))
def test_config_names_a_registered_reader_with_coops_folder(name):
    with open(dataset_config(name)) as f:
        reader = yaml.safe_load(f)["DATASET"]["NAME"]
    expected_reader, expected_folder = COOP_NAMES_AND_FOLDERS[name]
    assert reader == expected_reader
    cls = DATASET_REGISTRY.get(reader)
    assert cls.dataset_dir == expected_folder
    assert LAYOUTS[name].reader == reader


def test_every_dataset_has_a_config_and_a_fake_builder():
    configs = {f[:-5] for f in os.listdir(DATASET_CONFIGS) if f.endswith(".yaml")}
    # image_folder: a folder of your own images, not one of the 15 (tests/test_image_folder.py)
    assert configs - {"image_folder"} == set(COOP_NAMES_AND_FOLDERS) == set(FAKE_BUILDERS) == set(LAYOUTS)


@pytest.mark.parametrize("name", sorted(PER_CLASS))
def test_reader_gives_classes_names_and_split_sizes(name, tmp_path):
    fake = make_dataset(name, str(tmp_path))
    ds = read_dataset(tmp_path, fake.reader)

    assert ds.num_classes == fake.num_classes
    assert ds.classnames == fake.classnames
    assert ds.lab2cname == dict(enumerate(fake.classnames))
    n_train, n_val, n_test = PER_CLASS[name]
    labels = list(range(fake.num_classes))
    assert Counter(d.label for d in ds.train_x) == {y: n_train for y in labels}
    assert Counter(d.label for d in ds.test) == {y: n_test for y in labels}
    if name == "imagenet":
        assert ds.val is ds.test
    elif n_val is None:
        assert not ds.val
        assert ds.train_x == ds.test
    else:
        assert Counter(d.label for d in ds.val) == {y: n_val for y in labels}
    # every item carries the name of its label, and no image is in two splits
    for d in ds.train_x + ds.test + (ds.val or []):
        assert d.classname == fake.classnames[d.label]
        assert osp.isfile(d.impath)
    if name not in TEST_ONLY and name != "imagenet":
        train, val, test = ({d.impath for d in s} for s in (ds.train_x, ds.val, ds.test))
        assert not (train & val or train & test or val & test)


def test_class_name_rules(tmp_path):
    """The tricky names of the real data, written out."""
    root = str(tmp_path)
    make_dataset("caltech101", root, n_classes=8)
    caltech = read_dataset(root, "Caltech101")
    assert caltech.classnames[:3] == ["face", "leopard", "motorbike"]
    assert "airplane" in caltech.classnames
    assert not {"BACKGROUND_Google", "Faces_easy", "background_google"} & set(caltech.classnames)
    assert caltech.num_classes == 8  # the two ignored folders are no classes

    make_dataset("stanford_cars", root)
    assert read_dataset(root, "StanfordCars").classnames[0] == "2000 AM General Hummer SUV"

    make_dataset("sun397", root)
    assert read_dataset(root, "SUN397").classnames == [
        "abbey", "outdoor apartment_building", "shop bakery"]

    make_dataset("ucf101", root, n_classes=5)
    ucf = read_dataset(root, "UCF101")
    assert ucf.classnames == ["Apply_Eye_Makeup", "Apply_Lipstick", "Archery", "Baby_Crawling", "Yo_Yo"]
    assert all(f"/UCF-101-midframes/{d.classname}/" in d.impath for d in ucf.test)

    make_dataset("oxford_pets", root)
    assert read_dataset(root, "OxfordPets").classnames[:3] == [
        "abyssinian", "american_bulldog", "american_pit_bull_terrier"]

    make_dataset("fgvc_aircraft", root)
    assert read_dataset(root, "FGVCAircraft").classnames == ["707-320", "A300B4", "F/A-18"]

    make_dataset("eurosat", root, n_classes=4)
    assert read_dataset(root, "EuroSAT").classnames == [
        "Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road"]


@pytest.mark.parametrize("name", ["imagenet_a", "imagenet_r"])
def test_imagenet_a_r_labels_are_their_own_200_not_imagenets_1000(name, tmp_path):
    fake = make_dataset(name, str(tmp_path), n_classes=3)
    ds = read_dataset(tmp_path, fake.reader)
    # the folders are ImageNet classes 0, 2, 4; the labels are 0, 1, 2
    assert sorted({d.label for d in ds.test}) == [0, 1, 2]
    assert ds.classnames == ["tench", "great white shark", "hammerhead shark"]
    assert osp.isfile(osp.join(fake.dataset_dir, LAYOUTS[name].image_folder, "README.txt"))


def test_listings_are_sorted_whatever_the_filesystem_order(tmp_path, monkeypatch):
    """Creating a split from folders gives the same split for any listing order."""
    def build(where, reverse):
        make_dtd(str(where), n_classes=3, n_per_class=6)
        real_listdir = os.listdir
        monkeypatch.setattr(os, "listdir", lambda p: sorted(real_listdir(p), reverse=reverse))
        try:
            ds = read_dataset(where, "DescribableTextures", seed=5)
        finally:
            monkeypatch.setattr(os, "listdir", real_listdir)
        return [_records(s, where) for s in (ds.train_x, ds.val, ds.test)]

    assert build(tmp_path / "a", False) == build(tmp_path / "b", True)


# ---------------------------------------------------------------------------
# Published split files
# ---------------------------------------------------------------------------
def test_published_split_file_is_read_as_is(tmp_path):
    """Order, paths, labels and names come from the split file, whatever is on disk."""
    fake = make_dtd(str(tmp_path), n_classes=3, n_per_class=5)
    img = "images"
    split = {
        "train": [["braided/braided_0003.jpg", 2, "braided"], ["banded/banded_0005.jpg", 0, "banded"],
                  ["blotchy/blotchy_0001.jpg", 1, "blotchy"]],
        "val": [["banded/banded_0001.jpg", 0, "banded"]],
        "test": [["blotchy/blotchy_0004.jpg", 1, "a renamed class"]],
    }
    with open(osp.join(fake.dataset_dir, "split_zhou_DescribableTextures.json"), "w") as f:
        json.dump(split, f)
    ds = read_dataset(tmp_path, "DescribableTextures")
    for key, items in (("train", ds.train_x), ("val", ds.val), ("test", ds.test)):
        assert [(d.impath, d.label, d.classname) for d in items] == [
            (osp.join(fake.dataset_dir, img, p), y, c) for p, y, c in split[key]]


def test_stanford_cars_split_paths_are_relative_to_the_dataset_folder(tmp_path):
    fake = make_dataset("stanford_cars", str(tmp_path))
    read_dataset(tmp_path, "StanfordCars")  # creates the split file
    with open(osp.join(fake.dataset_dir, "split_zhou_StanfordCars.json")) as f:
        split = json.load(f)
    assert {p.split("/")[0] for p, _, _ in split["train"] + split["val"]} == {"cars_train"}
    assert {p.split("/")[0] for p, _, _ in split["test"]} == {"cars_test"}
    # read back: same lists
    again = read_dataset(tmp_path, "StanfordCars")
    assert [d.impath for d in again.test] == [osp.join(fake.dataset_dir, p) for p, _, _ in split["test"]]


def test_created_split_file_has_coops_format_and_is_reused(tmp_path):
    fake = make_dtd(str(tmp_path), n_classes=3, n_per_class=5)
    first = read_dataset(tmp_path, "DescribableTextures", seed=1)
    with open(osp.join(fake.dataset_dir, "split_zhou_DescribableTextures.json")) as f:
        split = json.load(f)
    assert sorted(split) == ["test", "train", "val"]
    path, label, classname = split["train"][0]
    assert not osp.isabs(path) and path.split("/")[0] in fake.classnames  # relative to images/
    assert isinstance(label, int) and classname == fake.classnames[label]
    # a different seed now reads the same file instead of splitting again
    second = read_dataset(tmp_path, "DescribableTextures", seed=2)
    assert _records(second.train_x, tmp_path) == _records(first.train_x, tmp_path)


def test_random_split_matches_coops_algorithm(tmp_path):
    """Per sorted class: shuffle the sorted images, then 50/20/30 with round()."""
    fake = make_dtd(str(tmp_path), n_classes=2, n_per_class=7)
    ds = read_dataset(tmp_path, "DescribableTextures", seed=3)
    random.seed(3)
    expected = {"train": [], "val": [], "test": []}
    for label, cname in enumerate(fake.classnames):
        folder = osp.join(fake.dataset_dir, "images", cname)
        images = [osp.join(folder, f) for f in sorted(os.listdir(folder))]
        random.shuffle(images)
        n_train, n_val = round(7 * 0.5), round(7 * 0.2)  # 4 (banker's), 1
        expected["train"] += images[:n_train]
        expected["val"] += images[n_train:n_train + n_val]
        expected["test"] += images[n_train + n_val:]
    assert [d.impath for d in ds.train_x] == expected["train"]
    assert [d.impath for d in ds.val] == expected["val"]
    assert [d.impath for d in ds.test] == expected["test"]


# ---------------------------------------------------------------------------
# Base / new classes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,n_classes", [("dtd", 5), ("oxford_pets", 4), ("imagenet", 5)])
def test_base_and_new_halves(name, n_classes, tmp_path):
    fake = make_dataset(name, str(tmp_path), n_classes=n_classes)
    full = read_dataset(tmp_path, fake.reader, num_shots=2)
    base = read_dataset(tmp_path, fake.reader, num_shots=2, subsample="base")
    new = read_dataset(tmp_path, fake.reader, num_shots=2, subsample="new")
    m = -(-n_classes // 2)  # ceil(n/2) base classes
    assert base.classnames == fake.classnames[:m]
    assert new.classnames == fake.classnames[m:]
    assert base.num_classes == m and new.num_classes == n_classes - m
    for part, offset in ((base, 0), (new, m)):
        for split_name in ("train_x", "val", "test"):
            items = getattr(part, split_name)
            full_items = [d for d in getattr(full, split_name) if d.classname in part.classnames]
            # same images (the few-shot samples are shared), labels renumbered from 0
            assert [(d.impath, d.label + offset) for d in items] == [
                (d.impath, d.label) for d in full_items]
    if name == "imagenet":
        assert base.val is base.test
    # one few-shot cache serves all, base and new
    assert os.listdir(osp.join(fake.dataset_dir, "split_fewshot")) == ["shot_2-seed_1.json"]


def test_empty_class_list_after_subsampling_is_a_clear_error(tmp_path):
    make_dtd(str(tmp_path), n_classes=1, n_per_class=5)
    with pytest.raises(ValueError, match="leaves no class"):
        read_dataset(tmp_path, "DescribableTextures", subsample="new")


def test_unknown_subsample_value_is_rejected(tmp_path):
    make_dtd(str(tmp_path), n_classes=2, n_per_class=5)
    with pytest.raises(ValueError, match=r"SUBSAMPLE_CLASSES = 'novel' is invalid.*\['all', 'base', 'new'\]"):
        read_dataset(tmp_path, "DescribableTextures", subsample="novel")


# ---------------------------------------------------------------------------
# Clear errors for a half-prepared folder
# ---------------------------------------------------------------------------
def _error(tmp_path, reader, **kwargs):
    with pytest.raises(DatasetNotReadyError) as info:
        read_dataset(tmp_path, reader, **kwargs)
    return str(info.value)


def test_missing_dataset_folder(tmp_path):
    msg = _error(tmp_path, "DescribableTextures")
    assert "dataset folder not found" in msg
    assert str(tmp_path / "dtd") in msg
    assert "docs/DATASETS.md#dtd" in msg


def test_missing_annotation_file(tmp_path):
    fake = make_dataset("oxford_pets", str(tmp_path))
    os.remove(osp.join(fake.dataset_dir, "annotations", "test.txt"))
    msg = _error(tmp_path, "OxfordPets")
    assert osp.join(fake.dataset_dir, "annotations", "test.txt") in msg
    assert "annotations.tar.gz" in msg and "download-splits" in msg
    assert "docs/DATASETS.md#oxford-pets" in msg


def test_annotation_file_not_needed_with_the_split_file(tmp_path):
    fake = make_dataset("oxford_pets", str(tmp_path))
    read_dataset(tmp_path, "OxfordPets")  # writes the split file
    shutil.rmtree(osp.join(fake.dataset_dir, "annotations"))
    assert read_dataset(tmp_path, "OxfordPets").num_classes == fake.num_classes


def test_imagenet_val_not_sorted_into_class_folders(tmp_path):
    make_dataset("imagenet", str(tmp_path), sort_val=False)
    msg = _error(tmp_path, "ImageNet")
    assert osp.join(str(tmp_path), "imagenet", "images", "val") in msg
    assert "8 images lie directly in this folder" in msg
    assert "valprep.sh" in msg and "docs/DATASETS.md#imagenet" in msg


def test_imagenet_val_with_other_classes_than_train(tmp_path):
    fake = make_dataset("imagenet", str(tmp_path))
    shutil.rmtree(osp.join(fake.dataset_dir, "images", "val", "n01443537"))
    msg = _error(tmp_path, "ImageNet")
    assert "class folders differ" in msg and "n01443537" in msg


def test_split_file_naming_images_not_on_disk(tmp_path):
    fake = make_dtd(str(tmp_path), n_classes=3, n_per_class=5)
    read_dataset(tmp_path, "DescribableTextures")
    gone = [osp.join(fake.dataset_dir, "images", "banded", f"banded_000{i}.jpg") for i in (1, 2)]
    for path in gone:
        os.remove(path)
    msg = _error(tmp_path, "DescribableTextures")
    assert "2 of the 15 images named by this file are not on disk" in msg
    assert "split_zhou_DescribableTextures.json" in msg
    assert gone[0] in msg and gone[1] in msg


def test_malformed_split_file(tmp_path):
    fake = make_dtd(str(tmp_path), n_classes=2, n_per_class=5)
    with open(osp.join(fake.dataset_dir, "split_zhou_DescribableTextures.json"), "w") as f:
        f.write('{"train": [], "val": []}')
    msg = _error(tmp_path, "DescribableTextures")
    assert 'no "test" list' in msg


@pytest.mark.parametrize("name", TEST_ONLY)
def test_missing_classnames_of_an_imagenet_variant(name, tmp_path):
    fake = make_dataset(name, str(tmp_path))
    os.remove(osp.join(fake.dataset_dir, "classnames.txt"))
    msg = _error(tmp_path, fake.reader)
    assert osp.join(fake.dataset_dir, "classnames.txt") in msg
    assert f"download-splits {name}" in msg
    assert LAYOUTS[name].docs in msg


def test_class_folder_missing_from_classnames(tmp_path):
    fake = make_dataset("imagenet_sketch", str(tmp_path))
    os.makedirs(osp.join(fake.dataset_dir, "images", "n99999999"))
    msg = _error(tmp_path, "ImageNetSketch")
    assert 'class folder "n99999999" has no line' in msg


def test_too_few_images_to_create_a_split(tmp_path):
    make_dtd(str(tmp_path), n_classes=2, n_per_class=3)  # 3 images: 2/1/0
    msg = _error(tmp_path, "DescribableTextures")
    assert 'class "banded" (label 0) has only 3 image(s)' in msg


def test_more_shots_than_a_class_has_keeps_all_and_warns(tmp_path):
    fake = make_dtd(str(tmp_path), n_classes=3, n_per_class=10)  # 5 train images per class
    for i in range(6, 11):  # banded keeps 5 images: 2 train, 1 val, 2 test
        os.remove(osp.join(fake.dataset_dir, "images", "banded", f"banded_{i:04d}.jpg"))
    with pytest.warns(FewShotWarning) as record:
        ds = read_dataset(tmp_path, "DescribableTextures", num_shots=5)
    assert Counter(d.label for d in ds.train_x) == {0: 2, 1: 5, 2: 5}  # all of banded kept
    message = str(record[0].message)
    assert "1 class(es) of the train split have fewer than 5 images" in message
    assert "banded (2)" in message and "blotchy" not in message


def test_class_dependent_fake_images_separate_the_classes(tmp_path):
    from PIL import Image, ImageStat

    fake = make_dtd(str(tmp_path), n_classes=3, n_per_class=4, class_dependent=True, image_size=16)

    def mean_colour(path):
        with Image.open(path) as img:
            return list(ImageStat.Stat(img.convert("RGB")).mean)

    colours = {}
    for cname in fake.classnames:
        folder = osp.join(fake.dataset_dir, "images", cname)
        colours[cname] = [mean_colour(osp.join(folder, f)) for f in sorted(os.listdir(folder))]

    def dist(a, b):
        return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5

    within = max(dist(a, b) for c in colours.values() for a in c for b in c)
    between = min(dist(a, b) for c1 in colours for c2 in colours if c1 < c2
                  for a in colours[c1] for b in colours[c2])
    assert within < 50 < between
