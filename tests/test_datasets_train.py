"""Every dataset config runs through train.py: zero-shot CLIP evaluation on fake data."""
import os.path as osp
import re
import sys

import pytest

from tests.fake_data import FAKE_BUILDERS, make_dataset
from tests.log_tee import undo_log_tee

import train  # noqa: E402  (the repository root is on sys.path: pytest.ini)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# test images per fake dataset (default fake sizes; see test_datasets.PER_CLASS)
N_TEST = {
    "imagenet": 8, "caltech101": 12, "oxford_pets": 8, "stanford_cars": 6,
    "oxford_flowers": 6, "food101": 6, "fgvc_aircraft": 6, "sun397": 6, "dtd": 8,
    "eurosat": 6, "ucf101": 6, "imagenetv2": 8, "imagenet_sketch": 8, "imagenet_a": 6,
    "imagenet_r": 6,
}


@pytest.mark.parametrize("name", sorted(FAKE_BUILDERS))
def test_dataset_config_runs_zero_shot_eval(name, tmp_path, tiny_clip_path, monkeypatch):
    assert set(N_TEST) == set(FAKE_BUILDERS)
    fake = make_dataset(name, str(tmp_path / "data"))
    out = tmp_path / "out"
    args = train.build_parser().parse_args([
        "--root", str(tmp_path / "data"),
        "--seed", "1",
        "--trainer", "ZeroshotCLIP",
        "--dataset-config-file", osp.join(REPO, "configs", "datasets", f"{name}.yaml"),
        "--output-dir", str(out),
        "--eval-only",
        "TRAINER.ENPROMPT.CLIP_WEIGHTS", tiny_clip_path,
        "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TEST.BATCH_SIZE", "16",
    ])
    # pip's package list is not what this test checks, and costs 0.5 s per run
    monkeypatch.setattr(train, "collect_env_info", lambda: "(not collected in this test)")
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # train.py tees stdout into its log
    try:
        train.main(args)
    finally:
        undo_log_tee()
    log = (out / "log.txt").read_text()
    assert f"Loading dataset: {fake.reader}" in log
    assert "=> result" in log
    assert re.search(rf"\* total: {N_TEST[name]}\b", log), log[-2000:]
    assert re.search(r"\* accuracy: [\d.]+%", log)
