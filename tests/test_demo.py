"""The demo (python -m enprompt.demo) in a reduced form: one seed, one epoch, 4 classes."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
from PIL import Image

from enprompt.demo import make_texture_dataset
from tests.child_process import assert_succeeded
from tests.paths import REPO

B2N = osp.join("dtd", "shots_16", "EnPrompt", "vit_b16_c4_ep5_batch4_base2new", "seed1")


def run_demo(out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "enprompt.demo", "--out", str(out), "--seeds", "1",
         "--epochs", "1", "--classes", "4", "--images-per-class", "6", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


def test_demo_runs_the_base2new_scripts_and_prints_the_table(tmp_path):
    out = tmp_path / "demo"
    process = run_demo(out)
    assert_succeeded(process, "python -m enprompt.demo")
    stdout = process.stdout
    assert "The CLIP weights are RANDOM" in stdout
    assert "### Base-to-novel: EnPrompt / vit_b16_c4_ep5_batch4_base2new" in stdout
    row = next(line for line in stdout.splitlines() if line.startswith("| DTD |"))
    base, new, hm = (float(cell.split("±")[0]) for cell in row.strip("|").split("|")[1:4])
    assert hm == round(2 * base * new / (base + new), 2)

    train_dir = out / "output" / "base2new" / "train_base" / B2N
    test_dir = out / "output" / "base2new" / "test_new" / B2N
    train_log = (train_dir / "log.txt").read_text()
    assert "Finish training" in train_log and "epoch [1/1]" in train_log
    assert (train_dir / "prompt_learner" / "model.pth.tar-1").is_file()
    test_log = (test_dir / "log.txt").read_text()
    assert "model.pth.tar-1" in test_log and "=> result" in test_log
    assert (out / "clip" / "tiny-random-clip.pt").is_file()
    # the console output of each script is kept next to the runs
    assert "Running:" in (out / "console" / "base2new_train-dtd-seed1.txt").read_text()

    rerun = run_demo(out)
    assert rerun.returncode == 0
    assert rerun.stdout.count("already done, skipped") == 2
    assert row in rerun.stdout

    # Other settings in the same folder: the demo starts over, its table is of the new runs.
    other = run_demo(out, "--epochs", "2")
    assert other.returncode == 0, other.stdout[-3000:] + other.stderr[-3000:]
    assert f"{out} holds a demo with other settings (epochs 1 -> 2): starting over in it." in other.stdout
    assert "already done, skipped" not in other.stdout
    assert "epoch [2/2]" in (train_dir / "log.txt").read_text()


def test_texture_dataset_is_class_dependent(tmp_path):
    dataset_dir = make_texture_dataset(str(tmp_path), num_classes=4, images_per_class=10)
    with open(osp.join(dataset_dir, "split_zhou_DescribableTextures.json")) as f:
        split = json.load(f)
    assert [len(split[k]) for k in ("train", "val", "test")] == [20, 8, 12]
    assert {label for _, label, _ in split["test"]} == {0, 1, 2, 3}

    def mean_color(relpath):
        image = Image.open(osp.join(dataset_dir, "images", relpath)).convert("RGB")
        return np.asarray(image, dtype=float).reshape(-1, 3).mean(0)

    by_class = {}
    for relpath, label, classname in split["train"] + split["val"] + split["test"]:
        assert relpath.startswith(classname + "/")
        by_class.setdefault(label, []).append(mean_color(relpath))
    centers = {label: np.mean(colors, 0) for label, colors in by_class.items()}
    within = max(np.linalg.norm(c - centers[label]) for label, cs in by_class.items() for c in cs)
    between = min(
        np.linalg.norm(centers[a] - centers[b]) for a in centers for b in centers if a < b
    )
    assert between > 2 * within
