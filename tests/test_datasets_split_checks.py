"""Split files and few-shot caches are checked when read, not trusted.

Each bad file is refused before any training with an error that names the
file, the entry and the fix, instead of a silent wrong score (test labels
beyond the classes), an ``IndexError`` in the first epoch (train labels) or
a ``TypeError``. Also: only image files become split items, and an unseeded
run draws its own few-shot samples. The readers are built in-process, as
``train.py`` builds them, on whichever engine is installed.
"""
import json
import os
import os.path as osp
import random
import re

import pytest

from enprompt.data import DatasetNotReadyError, fewshot_cache_path
from enprompt.data.fewshot import RUN_SAMPLES_FILE
from tests.fake_data import edit_split_file, make_dtd, read_dataset, reader_cfg

READER = "DescribableTextures"
SPLIT = "split_zhou_DescribableTextures.json"

pytestmark = pytest.mark.fault


@pytest.fixture
def dtd(tmp_path):
    """DTD with 4 classes of 10 images and its split file (5 train, 2 val, 3 test per class)."""
    fake = make_dtd(str(tmp_path / "data"), n_classes=4, n_per_class=10)
    read_dataset(fake.root, READER)
    return fake


def _refused(fake, **kwargs):
    with pytest.raises(DatasetNotReadyError) as info:
        read_dataset(fake.root, READER, **kwargs)
    return str(info.value)


def _set_label(key, index, label):
    def edit(split):
        split[key][index][1] = label
    return edit


@pytest.mark.parametrize("edit, problem", [
    pytest.param(lambda s: [e.__setitem__(1, 99) for e in s["test"][:5]],
                 r'entry 0 of "test" is \["banded/banded_\d+.jpg", 99, "banded"\], but the classes '
                 r"\(the labels of the first list\) are 0..3", id="test-label-99"),
    pytest.param(_set_label("train", 3, 99),
                 r'the labels of "train" are the classes, so they must be 0..99 without a gap, '
                 r"but label\(s\) \[4, 5, 6, 7, 8\] have no entry there", id="train-label-99"),
    pytest.param(lambda s: s["train"][2].pop(1),
                 r'entry 2 of "train" is \["banded/banded_\d+.jpg", "banded"\], expected '
                 r"\[image path, label, class name\]", id="train-entry-without-label"),
    pytest.param(lambda s: s.__setitem__("train", 5),
                 r'"train" is 5, expected a list of \[image path, label, class name\]', id="train-is-5"),
    pytest.param(_set_label("val", 0, -1), r'entry 0 of "val" .*: the label must be an integer >= 0',
                 id="negative-label"),
    pytest.param(lambda s: s["test"][0].__setitem__(2, "striped"),
                 r'entry 0 of "test" is .*"striped"\], but label 0 is "banded" in the first list',
                 id="label-and-class-name-disagree"),
    pytest.param(lambda s: s.__setitem__("test", []), r'"test" is an empty list', id="empty-test"),
])
def test_a_bad_split_file_is_refused_naming_the_file_the_entry_and_the_fix(dtd, edit, problem):
    path = edit_split_file(dtd, edit)
    message = _refused(dtd)
    assert f"  path: {path}" in message
    assert f"{READER} is not ready: the file is malformed: " in message
    assert re.search(problem, message), message
    assert "download the published split file again, or delete it" in message


def _cache(fake, num_shots=2, seed=1):
    return fewshot_cache_path(fake.dataset_dir, num_shots, seed)


def test_a_fewshot_cache_of_images_outside_the_train_split_is_refused(dtd):
    read_dataset(dtd.root, READER, num_shots=2, seed=1)
    with open(osp.join(dtd.dataset_dir, SPLIT)) as f:
        test_items = json.load(f)["test"]
    with open(_cache(dtd)) as f:
        cache = json.load(f)
    cache["train"][0] = ["images/" + test_items[0][0], test_items[0][1], test_items[0][2]]
    with open(_cache(dtd), "w") as f:
        json.dump(cache, f)
    message = _refused(dtd, num_shots=2, seed=1)
    assert 'of its 8 "train" samples are not train images of the current split' in message
    assert f"  path: {_cache(dtd)}" in message and "delete this cache file" in message


@pytest.mark.parametrize("content", ['{"train": [], "val": []}', '{"train": 5, "val": []}'])
def test_an_empty_or_malformed_fewshot_cache_is_refused(dtd, content):
    os.makedirs(osp.dirname(_cache(dtd)), exist_ok=True)
    with open(_cache(dtd), "w") as f:
        f.write(content)
    message = _refused(dtd, num_shots=2, seed=1)  # was: "max() arg is an empty sequence"
    assert f"  path: {_cache(dtd)}" in message and '"train" is' in message
    assert "delete this cache file; the few-shot samples are then drawn again" in message


def test_only_image_files_become_split_items(tmp_path):
    fake = make_dtd(str(tmp_path / "data"), n_classes=2, n_per_class=8)
    for folder in ("banded", "blotchy"):
        with open(osp.join(fake.dataset_dir, "images", folder, "README.txt"), "w") as f:
            f.write("notes about this class\n")
    ds = read_dataset(fake.root, READER)
    items = ds.train_x + ds.val + ds.test
    assert len(items) == 16 and all(d.impath.endswith(".jpg") for d in items)
    with open(osp.join(fake.dataset_dir, SPLIT)) as f:
        assert "README" not in f.read()


def _unseeded_reader(fake, run_dir, state):
    """The reader of a run with ``SEED -1``: Python's random is not seeded by train.py,
    so each run starts from another state (``state`` stands for it)."""
    import datasets  # noqa: F401  (registers the readers)
    from enprompt.dassl import DATASET_REGISTRY, get_cfg_default

    cfg = reader_cfg(get_cfg_default(), fake.root, READER, num_shots=2, seed=-1)
    cfg.OUTPUT_DIR = run_dir
    random.seed(state)
    return DATASET_REGISTRY.get(READER)(cfg)


def _samples(ds):
    return [(d.impath, d.label) for d in ds.train_x + ds.val]


def test_unseeded_runs_draw_their_own_samples_and_keep_them_with_the_run(dtd, tmp_path, capsys):
    """``--seed -1`` used to reuse shot_2-seed_-1.json for every later unseeded run."""
    run_a, run_b = str(tmp_path / "run_a"), str(tmp_path / "run_b")
    a = _unseeded_reader(dtd, run_a, state=101)
    b = _unseeded_reader(dtd, run_b, state=202)
    assert _samples(a) != _samples(b)  # new samples for each unseeded run
    assert "Unseeded run (SEED < 0): drew new few-shot samples, kept with this run in " \
           f"{osp.join(run_a, RUN_SAMPLES_FILE)}" in capsys.readouterr().out
    assert not osp.exists(_cache(dtd, seed=-1))  # the shared cache is neither written ...
    assert a.fewshot_path == osp.join(run_a, RUN_SAMPLES_FILE) and osp.isfile(a.fewshot_path)

    resumed = _unseeded_reader(dtd, run_a, state=303)  # ... nor read; the run's own file is
    assert _samples(resumed) == _samples(a)
    assert "Loading the few-shot samples of this unseeded run from" in capsys.readouterr().out
    unsaved = _unseeded_reader(dtd, "", state=404)  # no output folder: nothing written
    assert unsaved.fewshot_path is None and not osp.exists(_cache(dtd, seed=-1))
