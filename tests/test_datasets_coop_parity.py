"""Same lists and few-shot samples as CoOp's own readers, compared directly.

Needs the real Dassl (``import dassl``) and a CoOp checkout whose path is in
the environment variable ``ENPROMPT_COOP_DIR`` (its ``datasets/*.py`` are
loaded from there; nothing of CoOp is part of this project). Skipped
otherwise: without them there is nothing to compare with, and the readers'
CoOp behaviour is pinned by tests/test_datasets*.py.
"""
import importlib.util
import os
import os.path as osp
import random
import shutil
import sys

import pytest

COOP_DIR = os.environ.get("ENPROMPT_COOP_DIR", "")

try:
    import dassl  # noqa: F401

    HAVE_DASSL = True
except ImportError:
    HAVE_DASSL = False

pytestmark = pytest.mark.skipif(
    not (HAVE_DASSL and COOP_DIR and osp.isfile(osp.join(COOP_DIR, "datasets", "oxford_pets.py"))),
    reason="needs Dassl.pytorch installed and ENPROMPT_COOP_DIR set to a CoOp checkout",
)

from tests.fake_data import make_dataset, read_dataset, reader_cfg  # noqa: E402

# (config name, CoOp module) of readers compared; each covers one way of splitting
COMPARED = [
    ("dtd", "dtd"),                      # folder-per-class 50/20/30
    ("oxford_pets", "oxford_pets"),      # annotation files, 80/20
    ("stanford_cars", "stanford_cars"),  # .mat files, paths relative to the dataset folder
    ("fgvc_aircraft", "fgvc_aircraft"),  # official split, no split file
]


@pytest.fixture(scope="module")
def coop_readers():
    """CoOp's reader modules, imported as package ``coop_datasets`` without
    clashing with this project's readers in Dassl's registry."""
    import datasets  # noqa: F401  (ours, registered first)
    from dassl.data.datasets import DATASET_REGISTRY

    saved = dict(DATASET_REGISTRY._obj_map)
    DATASET_REGISTRY._obj_map.clear()
    try:
        spec = importlib.util.spec_from_file_location(
            "coop_datasets", osp.join(COOP_DIR, "datasets", "__init__.py"),
            submodule_search_locations=[osp.join(COOP_DIR, "datasets")],
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["coop_datasets"] = package
        spec.loader.exec_module(package)
        modules = {m: importlib.import_module(f"coop_datasets.{m}") for _, m in COMPARED}
    finally:
        DATASET_REGISTRY._obj_map.clear()
        DATASET_REGISTRY._obj_map.update(saved)
    return modules


def _coop_dataset(module, reader, root, num_shots, seed, subsample):
    from dassl.config import get_cfg_default

    cfg = reader_cfg(get_cfg_default(), root, reader, num_shots, seed, subsample)
    random.seed(seed)
    return getattr(module, reader)(cfg)


def _lists(ds, root):
    return [
        [(osp.relpath(d.impath, str(root)), d.label, d.classname) for d in items or []]
        for items in (ds.train_x, ds.val, ds.test)
    ] + [ds.classnames]


@pytest.mark.parametrize("name,module", COMPARED)
@pytest.mark.parametrize("num_shots,seed,subsample", [
    (-1, 1, "all"), (2, 1, "all"), (2, 2, "base"), (1, 3, "new"), (2, 1, "new"),
])
def test_same_lists_as_coop(name, module, num_shots, seed, subsample, tmp_path, coop_readers):
    fake = make_dataset(name, str(tmp_path / "ours"))
    read_dataset(tmp_path / "ours", fake.reader)  # the split file both read ("published")
    shutil.copytree(tmp_path / "ours", tmp_path / "coop")

    coop = _coop_dataset(coop_readers[module], fake.reader, tmp_path / "coop", num_shots, seed, subsample)
    ours = read_dataset(tmp_path / "ours", fake.reader, num_shots, seed, subsample)
    assert _lists(ours, tmp_path / "ours") == _lists(coop, tmp_path / "coop")


@pytest.mark.parametrize("name,module", COMPARED)
def test_coops_pkl_cache_gives_coops_samples(name, module, tmp_path, coop_readers):
    fake = make_dataset(name, str(tmp_path / "coop"))
    read_dataset(tmp_path / "coop", fake.reader)
    coop = _coop_dataset(coop_readers[module], fake.reader, tmp_path / "coop", 2, 7, "all")
    # the data root moves to another place (or machine): the pkl keeps old absolute paths
    shutil.move(str(tmp_path / "coop"), str(tmp_path / "moved"))
    ours = read_dataset(tmp_path / "moved", fake.reader, num_shots=2, seed=8)  # other seed ...
    assert _lists(ours, tmp_path / "moved") != _lists(coop, tmp_path / "coop")
    ours = read_dataset(tmp_path / "moved", fake.reader, num_shots=2, seed=7)  # ... and CoOp's
    assert _lists(ours, tmp_path / "moved") == _lists(coop, tmp_path / "coop")
