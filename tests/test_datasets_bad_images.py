"""DATALOADER.SKIP_BAD_IMAGES drops unreadable images, never a whole class of the label space."""
import random

import pytest

from enprompt.config import add_enprompt_config
from enprompt.data import BadImageWarning, DatasetNotReadyError
from tests.fake_data import make_dtd, make_imagenet_a, read_dataset, reader_cfg


def _read_skipping_bad_images(root, reader, subsample="all"):
    import datasets  # noqa: F401  (registers the readers)
    from enprompt.dassl import DATASET_REGISTRY, get_cfg_default

    cfg = add_enprompt_config(reader_cfg(get_cfg_default(), root, reader, subsample=subsample))
    cfg.DATALOADER.SKIP_BAD_IMAGES = True
    random.seed(1)
    return DATASET_REGISTRY.get(reader)(cfg)


def _entries(items):
    return [(item.impath, item.label, item.classname) for item in items]


def _corrupt(items):
    for path in sorted({item.impath for item in items}):
        with open(path, "wb") as f:
            f.write(b"\xff\xd8 this is not a jpeg")


@pytest.mark.parametrize("subsample", ["all", "base"])
def test_a_class_without_readable_training_images_is_named(tmp_path, subsample):
    make_dtd(str(tmp_path), n_classes=4, n_per_class=5)
    dataset = read_dataset(tmp_path, "DescribableTextures", subsample=subsample)  # writes the split
    lost = dataset.classnames[0]  # label 0: every later label would shift onto the wrong name
    _corrupt([item for item in dataset.train_x if item.classname == lost])

    with pytest.raises(DatasetNotReadyError) as info:
        _read_skipping_bad_images(tmp_path, "DescribableTextures", subsample)
    message = str(info.value)
    assert f'every train image of 1 class(es) is unreadable: "{lost}" (label 0, ' in message
    assert "SKIP_BAD_IMAGES" in message and "fix:  replace these files" in message
    assert "DescribableTextures is not ready" in message


def test_a_test_only_dataset_names_the_emptied_class(tmp_path):
    make_imagenet_a(str(tmp_path), n_classes=3, n_per_class=2)
    dataset = read_dataset(tmp_path, "ImageNetA")
    lost = dataset.classnames[1]
    _corrupt([item for item in dataset.test if item.classname == lost])

    with pytest.raises(DatasetNotReadyError, match=f'"{lost}" \\(label 1, 2 images\\)'):
        _read_skipping_bad_images(tmp_path, "ImageNetA")


def test_classes_emptied_only_outside_the_training_list_are_dropped_with_the_warning(tmp_path):
    make_dtd(str(tmp_path), n_classes=3, n_per_class=5)
    dataset = read_dataset(tmp_path, "DescribableTextures")
    lost = dataset.classnames[0]
    _corrupt([item for item in dataset.val + dataset.test if item.classname == lost])

    with pytest.warns(BadImageWarning, match=r"\((val|test): \d+, (val|test): \d+\)"):
        kept = _read_skipping_bad_images(tmp_path, "DescribableTextures")
    assert kept.classnames == dataset.classnames
    assert _entries(kept.train_x) == _entries(dataset.train_x)  # Dassl's Datum has no ==
    assert all(item.classname != lost for item in kept.val + kept.test)
