"""Every dataset config runs through train.py: zero-shot CLIP evaluation on fake data."""
import pytest

from tests.fake_data import FAKE_BUILDERS, make_dataset
from tests.log_patterns import final_result
from tests.paths import dataset_config
from tests.train_py import main_in_process, train_argv

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
    main_in_process(train_argv(
        "DATALOADER.NUM_WORKERS", 0, "DATALOADER.TEST.BATCH_SIZE", 16,
        root=str(tmp_path / "data"), output_dir=str(out), clip_weights=tiny_clip_path, seed=1,
        trainer="ZeroshotCLIP", dataset_config=dataset_config(name), config_file=None, flags=["--eval-only"],
    ), monkeypatch)
    log = (out / "log.txt").read_text()
    assert f"Loading dataset: {fake.reader}" in log
    assert "=> result" in log
    assert final_result(log)["total"] == N_TEST[name], log[-2000:]
