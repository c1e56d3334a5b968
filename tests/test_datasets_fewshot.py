"""Few-shot sampling, its JSON cache, and CoOp's legacy ``.pkl`` caches."""
import json
import os
import os.path as osp
import pickle
import random
import shutil
import sys
import types
from collections import Counter

import pytest

from enprompt.data import FewShotWarning, LegacyPickleError, fewshot_cache_path, reroot_path
from tests.dassl_reference import fewshot_reference
from tests.fake_data import make_dataset, make_dtd, read_dataset

READER = "DescribableTextures"


def _rel(items, root):
    return [(osp.relpath(d.impath, str(root)), d.label, d.classname) for d in items]


@pytest.fixture
def dtd_root(tmp_path):
    """DTD with 3 classes of 34 images (17 train, 7 val per class) and its split file."""
    root = tmp_path / "data"
    make_dtd(str(root), n_classes=3, n_per_class=34)
    read_dataset(root, READER)  # create the split file, as a published one would be
    return root


def test_16_shots_follow_dassls_sampling_from_the_split(dtd_root):
    full = read_dataset(dtd_root, READER)
    ds = read_dataset(dtd_root, READER, num_shots=16, seed=2)
    assert Counter(d.label for d in ds.train_x) == {0: 16, 1: 16, 2: 16}
    assert Counter(d.label for d in ds.val) == {0: 4, 1: 4, 2: 4}  # min(K, 4)
    random.seed(2)
    expected_train = fewshot_reference(full.train_x, 16)
    expected_val = fewshot_reference(full.val, 4)
    assert _rel(ds.train_x, dtd_root) == _rel(expected_train, dtd_root)
    assert _rel(ds.val, dtd_root) == _rel(expected_val, dtd_root)
    assert _rel(ds.test, dtd_root) == _rel(full.test, dtd_root)


def test_same_seed_same_samples_other_seed_other_samples(tmp_path):
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        make_dtd(str(tmp_path / name), n_classes=3, n_per_class=34)
        ds = read_dataset(tmp_path / name, READER, num_shots=16, seed=seed)
        runs[name] = _rel(ds.train_x, tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_cache_is_json_with_relative_paths_and_is_reused(dtd_root):
    first = read_dataset(dtd_root, READER, num_shots=4, seed=1)
    cache = fewshot_cache_path(str(dtd_root / "dtd"), 4, 1)
    assert cache.endswith(osp.join("dtd", "split_fewshot", "shot_4-seed_1.json"))
    with open(cache) as f:
        data = json.load(f)
    assert sorted(data) == ["train", "val"]
    assert all(p.startswith("images/") for p, _, _ in data["train"] + data["val"])
    assert [tuple(r) for r in data["train"]] == [
        (osp.relpath(d.impath, str(dtd_root / "dtd")), d.label, d.classname) for d in first.train_x]

    # a second construction reads the cache: same samples, Python's random untouched
    random.seed(123)
    expected_next = random.random()
    second = read_dataset(dtd_root, READER, num_shots=4, seed=1)
    random_after = random.random()
    assert _rel(second.train_x, dtd_root) == _rel(first.train_x, dtd_root)
    random.seed(1)
    assert random_after == random.random()  # read_dataset seeded with 1, nothing else drew
    assert expected_next != random_after


def test_edited_cache_is_honoured(dtd_root):
    """Proof that the cache, not a new draw, decides the samples."""
    read_dataset(dtd_root, READER, num_shots=2, seed=1)
    cache = fewshot_cache_path(str(dtd_root / "dtd"), 2, 1)
    with open(dtd_root / "dtd" / "split_zhou_DescribableTextures.json") as f:
        split = json.load(f)
    # one item per class: the last train and the first val image of each class of the split
    chosen = {key: [["images/" + p, y, c] for p, y, c in (
        [next(r for r in reversed(split[key]) if r[1] == y) for y in range(3)] if key == "train"
        else [next(r for r in split[key] if r[1] == y) for y in range(3)])] for key in ("train", "val")}
    with open(cache, "w") as f:
        json.dump(chosen, f)
    with pytest.warns(FewShotWarning, match=r"banded \(1\)"):
        ds = read_dataset(dtd_root, READER, num_shots=2, seed=1)
    assert _rel(ds.train_x, dtd_root / "dtd") == [tuple(r) for r in chosen["train"]]
    assert _rel(ds.val, dtd_root / "dtd") == [tuple(r) for r in chosen["val"]]


def test_moved_data_root_keeps_its_cache(dtd_root, tmp_path):
    first = read_dataset(dtd_root, READER, num_shots=4, seed=1)
    moved = tmp_path / "elsewhere"
    shutil.move(str(dtd_root), str(moved))
    same = read_dataset(moved, READER, num_shots=4, seed=1)
    drawn_after = random.random()
    random.seed(1)
    assert drawn_after == random.random()  # nothing was drawn: the cache was read
    assert _rel(same.train_x, moved) == _rel(first.train_x, dtd_root)
    assert all(d.impath.startswith(str(moved) + os.sep) for d in same.train_x + same.val)


def test_imagenet_cache_holds_only_train(tmp_path):
    fake = make_dataset("imagenet", str(tmp_path), n_train=3)
    read_dataset(tmp_path, "ImageNet", num_shots=2)
    with open(fewshot_cache_path(fake.dataset_dir, 2, 1)) as f:
        assert sorted(json.load(f)) == ["train"]
    with open(osp.join(fake.dataset_dir, "preprocessed.json")) as f:
        lists = json.load(f)
    assert sorted(lists) == ["test", "train"]
    assert all(p.startswith("images/train/") for p, _, _ in lists["train"])
    assert all(p.startswith("images/val/") for p, _, _ in lists["test"])
    assert not osp.exists(osp.join(fake.dataset_dir, "preprocessed.pkl"))


# ---------------------------------------------------------------------------
# CoOp's .pkl caches
# ---------------------------------------------------------------------------
@pytest.fixture
def coop_datum_class(monkeypatch):
    """A stand-in for Dassl's Datum, importable as dassl.data.datasets.base_dataset.Datum
    (so that pickle writes the same class reference as a CoOp run)."""
    module_name = "dassl.data.datasets.base_dataset"

    class Datum:
        def __init__(self, impath, label, classname, domain=0):
            self._impath = impath
            self._label = label
            self._domain = domain
            self._classname = classname

    Datum.__module__ = module_name
    Datum.__qualname__ = "Datum"
    module = types.ModuleType(module_name)
    module.Datum = Datum
    for name in ("dassl", "dassl.data", "dassl.data.datasets"):
        monkeypatch.setitem(sys.modules, name, sys.modules.get(name) or types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module_name, module)
    return Datum


def _write_pkl(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_coop_pkl_is_read_rerooted_and_converted(dtd_root, coop_datum_class, protocol):
    dataset_dir = str(dtd_root / "dtd")
    full = read_dataset(dtd_root, READER)
    other_machine = "/home/someone/DATA/dtd"
    # CoOp would have drawn random samples; pick the last two train items of
    # each class in reverse order, which no draw from seed 1 gives here
    chosen_train, chosen_val = [], []
    for label in range(3):
        chosen_train += [d for d in full.train_x if d.label == label][-2:][::-1]
        chosen_val += [d for d in full.val if d.label == label][:1]

    def to_coop(items):
        return [coop_datum_class(d.impath.replace(dataset_dir, other_machine), d.label, d.classname)
                for d in items]

    pkl = fewshot_cache_path(dataset_dir, 2, 1, ext="pkl")
    _write_pkl(pkl, {"train": to_coop(chosen_train), "val": to_coop(chosen_val)}, protocol)

    ds = read_dataset(dtd_root, READER, num_shots=2, seed=1)
    assert [(d.impath, d.label, d.classname) for d in ds.train_x] == [
        (d.impath, d.label, d.classname) for d in chosen_train]
    assert [d.impath for d in ds.val] == [d.impath for d in chosen_val]
    # converted to the JSON cache, which later runs read
    with open(fewshot_cache_path(dataset_dir, 2, 1)) as f:
        assert [p for p, _, _ in json.load(f)["train"]] == [
            osp.relpath(d.impath, dataset_dir) for d in chosen_train]
    os.remove(pkl)
    again = read_dataset(dtd_root, READER, num_shots=2, seed=1)
    assert [d.impath for d in again.train_x] == [d.impath for d in chosen_train]


def test_coop_pkl_with_images_missing_here_is_a_clear_error(dtd_root, coop_datum_class):
    dataset_dir = str(dtd_root / "dtd")
    items = [coop_datum_class("/old/dtd/images/banded/not_here.jpg", 0, "banded")]
    _write_pkl(fewshot_cache_path(dataset_dir, 1, 1, ext="pkl"), {"train": items, "val": items})
    from enprompt.data import DatasetNotReadyError

    with pytest.raises(DatasetNotReadyError) as info:
        read_dataset(dtd_root, READER, num_shots=1, seed=1)
    msg = str(info.value)
    assert "2 of the 2 images" in msg
    assert osp.join(dataset_dir, "images", "banded", "not_here.jpg") in msg
    assert "shot_1-seed_1.pkl" in msg


def test_reroot_path():
    assert reroot_path("/x/data/dtd/images/a.jpg", "/new/dtd") == "/new/dtd/images/a.jpg"
    assert reroot_path("/new/dtd/images/a.jpg", "/new/dtd") == "/new/dtd/images/a.jpg"
    assert reroot_path("/somewhere/else/a.jpg", "/new/dtd") == "/somewhere/else/a.jpg"


class _RunsCommand:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func_name", ["os.system", "builtins.eval"])
def test_malicious_pkl_is_refused_without_running_it(dtd_root, tmp_path, func_name):
    marker = tmp_path / "pwned"
    if func_name == "os.system":
        payload = _RunsCommand(os.system, f"touch {marker}")
    else:
        payload = _RunsCommand(eval, f"open({str(marker)!r}, 'w').close()")
    pkl = fewshot_cache_path(str(dtd_root / "dtd"), 2, 1, ext="pkl")
    _write_pkl(pkl, {"train": [payload], "val": []})

    with pytest.raises(LegacyPickleError) as info:
        read_dataset(dtd_root, READER, num_shots=2, seed=1)
    msg = str(info.value)
    assert "refusing to load" in msg and ("system" in msg or "eval" in msg)
    assert pkl in msg and "Delete it" in msg
    assert not marker.exists()
    assert isinstance(info.value, ValueError)  # one-line error in train.py


def test_pkl_of_other_objects_is_refused(dtd_root):
    pkl = fewshot_cache_path(str(dtd_root / "dtd"), 2, 1, ext="pkl")
    _write_pkl(pkl, {"train": [["images/banded/banded_0001.jpg", 0, "banded"]], "val": []})
    with pytest.raises(LegacyPickleError, match='expected only Datum objects under "train"'):
        read_dataset(dtd_root, READER, num_shots=2, seed=1)
