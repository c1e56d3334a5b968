"""Run the base-to-novel protocol end to end on a small generated dataset.

::

    python -m enprompt.demo                  # writes ./demo_output
    python -m enprompt.demo --out /tmp/demo --seeds 1 --epochs 1
    enprompt-demo                            # same, after pip install -e .

No download, no GPU and no dataset to prepare. The demo

1. writes a small texture dataset in the DTD layout
   (``<out>/data/dtd/images/<class>/*.jpg`` and
   ``split_zhou_DescribableTextures.json``), whose images depend on their
   class (colour, stripe direction and frequency);
2. saves a tiny CLIP with **random weights** (:mod:`enprompt.tiny_clip`) to
   ``<out>/clip/``;
3. runs the same commands a user runs for the paper's base-to-novel table,
   ``scripts/enprompt/base2new_train.sh`` and ``base2new_test.sh`` (and
   through them ``train.py``), for each seed, with fewer epochs, no data
   loader workers and the tiny weights passed as config options;
4. prints the table with :mod:`enprompt.results`.

Because the CLIP weights are random, the numbers show that the pipeline
works, not what EnPrompt achieves. Everything is left in one folder
(``--out``), with the demo's settings in ``<out>/demo.json``: run again with
the same settings, the finished runs are skipped (the scripts skip them);
with other settings (``--epochs``, ``--classes``, ...), the demo says so and
starts over in its folder, so its table never mixes runs of two settings.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np

import enprompt
from enprompt.fileio import write_json
from enprompt.results import collect_tables, render_markdown

__all__ = ["TEXTURES", "make_texture_dataset", "main"]

# The first DTD classes; the demo uses the first --classes of them.
TEXTURES = [
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed",
    "cracked", "crosshatched", "crystalline", "dotted", "fibrous",
]
DTD_SPLIT_FILE = "split_zhou_DescribableTextures.json"
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(enprompt.__file__)))


def _texture(label, num_classes, rng, size):
    """An RGB uint8 image (size, size, 3) whose look depends on ``label``.

    Class ``label`` fixes the base colour (hue), the stripe direction and the
    stripe frequency; each image gets its own phase, brightness and noise.
    """
    import colorsys

    hue = label / num_classes
    color = np.array(colorsys.hsv_to_rgb(hue, 0.8, 0.9))
    angle = np.pi * label / num_classes
    freq = 2 + label % 3
    y, x = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    image = (0.35 + 0.65 * stripes)[..., None] * color * rng.uniform(0.8, 1.0)
    image += rng.normal(0, 0.04, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_texture_dataset(root, num_classes=10, images_per_class=12, size=32, seed=0):
    """Write a DTD-layout dataset under ``root/dtd`` and return its folder.

    Per class, the images are split 50/20/30 into train/val/test (at least one
    image each), and the split is saved as DTD's published split file, which
    the ``DescribableTextures`` reader reads.

    Args:
        root (str): the data root (``DATASET.ROOT``, ``$DATA``).
        num_classes (int): 2 .. len(TEXTURES); base-to-novel uses the first
            ceil(n/2) as base classes.
        images_per_class (int): at least 3.
        size (int): image side in pixels.
        seed (int): seed of the image noise.
    """
    from PIL import Image

    if not 2 <= num_classes <= len(TEXTURES):
        raise ValueError(f"num_classes must be in 2..{len(TEXTURES)}, got {num_classes}")
    if images_per_class < 3:
        raise ValueError(f"images_per_class must be >= 3 (train/val/test), got {images_per_class}")
    dataset_dir = osp.join(root, "dtd")
    rng = np.random.default_rng(seed)
    split = {"train": [], "val": [], "test": []}
    for label, classname in enumerate(TEXTURES[:num_classes]):
        os.makedirs(osp.join(dataset_dir, "images", classname), exist_ok=True)
        n_train = max(1, round(0.5 * images_per_class))
        n_val = max(1, round(0.2 * images_per_class))
        for i in range(images_per_class):
            relpath = f"{classname}/{classname}_{i + 1:04d}.jpg"
            pixels = _texture(label, num_classes, rng, size)
            Image.fromarray(pixels).save(osp.join(dataset_dir, "images", relpath), quality=95)
            part = "train" if i < n_train else "val" if i < n_train + n_val else "test"
            split[part].append([relpath, label, classname])
    with open(osp.join(dataset_dir, DTD_SPLIT_FILE), "w") as f:
        json.dump(split, f)
    return dataset_dir


def _check_repository():
    missing = [
        p for p in ("train.py", "scripts/enprompt/base2new_train.sh", "configs/datasets/dtd.yaml")
        if not osp.isfile(osp.join(REPO_ROOT, p))
    ]
    if missing:
        raise SystemExit(
            f"The demo runs the repository's scripts and train.py, but {missing} are not in "
            f"{REPO_ROOT}. Run it from a clone of the repository installed with "
            "'python -m pip install -e .'."
        )


SETTINGS_FILE = "demo.json"


def _start_over_if_changed(out, settings):
    """Empty ``out`` (the demo's own folder) when it holds a demo of other settings."""
    path = osp.join(out, SETTINGS_FILE)
    try:
        with open(path) as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = None
    if previous is not None and previous != settings:
        changed = ", ".join(
            f"{key} {previous.get(key)} -> {value}" for key, value in settings.items()
            if previous.get(key) != value
        )
        print(f"{out} holds a demo with other settings ({changed}): starting over in it.")
        for name in ("data", "output", "console"):
            shutil.rmtree(osp.join(out, name), ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    write_json(settings, path)


def _run_script(script, args, env, log_path):
    """Run ``bash scripts/enprompt/<script> ARGS``; its console output goes to ``log_path``."""
    command = ["bash", osp.join("scripts", "enprompt", script), *args]
    start = time.time()
    with open(log_path, "w") as console:
        process = subprocess.run(
            command, cwd=REPO_ROOT, env=env, stdout=console, stderr=subprocess.STDOUT
        )
    if process.returncode != 0:
        with open(log_path) as f:
            tail = f.readlines()[-30:]
        sys.stdout.write("".join(tail))
        raise SystemExit(
            f"'{' '.join(command)}' failed (exit {process.returncode}); "
            f"its full output is in {log_path}"
        )
    with open(log_path) as f:
        skipped = any("so skip this job" in line for line in f)
    return time.time() - start, skipped


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.demo",
        description="Base-to-novel end to end on generated data with a tiny random CLIP "
        "(no download, no GPU).",
    )
    parser.add_argument("--out", default="demo_output",
                        help="folder for everything the demo writes (default: ./demo_output)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seeds to run (default: 1 2 3)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs, OPTIM.MAX_EPOCH (default: the config's, 5)")
    parser.add_argument("--classes", type=int, default=10,
                        help="texture classes, half base and half new (default: 10)")
    parser.add_argument("--images-per-class", type=int, default=12,
                        help="images per class, split 50/20/30 (default: 12)")
    parser.add_argument("--workers", type=int, default=0,
                        help="DATALOADER.NUM_WORKERS (default: 0)")
    args = parser.parse_args(argv)
    _check_repository()

    start = time.time()
    out = osp.abspath(args.out)
    data_root = osp.join(out, "data")
    output_root = osp.join(out, "output")
    console_dir = osp.join(out, "console")
    clip_path = osp.join(out, "clip", "tiny-random-clip.pt")

    print("EnPrompt demo: the base-to-novel protocol end to end, on the CPU.")
    print("The CLIP weights are RANDOM (a tiny model, no download): the numbers below show")
    print("that the pipeline runs, not what EnPrompt achieves with real CLIP weights.")
    print(f"Everything goes to {out}")
    print()
    settings = {"classes": args.classes, "images_per_class": args.images_per_class,
                "epochs": args.epochs}
    _start_over_if_changed(out, settings)
    os.makedirs(console_dir, exist_ok=True)

    if osp.isfile(osp.join(data_root, "dtd", DTD_SPLIT_FILE)):
        print(f"Dataset: reusing {data_root} (delete {out} to start over)")
    else:
        make_texture_dataset(data_root, args.classes, args.images_per_class)
        print(f"Dataset: {args.classes} texture classes x {args.images_per_class} images, "
              f"DTD layout, in {data_root}")
    if not osp.isfile(clip_path):
        with warnings.catch_warnings():
            # the clip package's own import-time warning about pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            from enprompt.tiny_clip import save_random_clip

            save_random_clip(clip_path, arch="tiny", seed=0)
    print(f"CLIP: tiny random ViT saved to {clip_path}")

    env = dict(os.environ, DATA=data_root, OUTPUT=output_root, PYTHON=sys.executable)
    env.pop("CFG", None)  # the protocol's own config
    # The tiny model gains nothing from several threads, and on a busy machine
    # their spin-waits make each step up to 100x slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    opts = ["DATALOADER.NUM_WORKERS", str(args.workers), "DATALOADER.TEST.BATCH_SIZE", "50"]
    if args.epochs is not None:
        opts = ["OPTIM.MAX_EPOCH", str(args.epochs), *opts]
    shown = " ".join(opts) + " TRAINER.ENPROMPT.CLIP_WEIGHTS <tiny weights>"
    opts += ["TRAINER.ENPROMPT.CLIP_WEIGHTS", clip_path]
    print()
    print("Running, for each seed, the commands of docs/PROTOCOLS.md with a few options added:")
    for script in ("base2new_train.sh", "base2new_test.sh"):
        print(f"  DATA={data_root} OUTPUT={output_root} \\")
        print(f"    bash scripts/enprompt/{script} dtd SEED {shown}")
    for seed in args.seeds:
        for script, what in [("base2new_train.sh", "train on base classes"),
                             ("base2new_test.sh", "test on new classes")]:
            log_path = osp.join(console_dir, f"{script[:-3]}-dtd-seed{seed}.txt")
            seconds, skipped = _run_script(script, ["dtd", str(seed), *opts], env, log_path)
            status = "already done, skipped" if skipped else f"{seconds:.0f} s"
            print(f"  seed {seed}: {what:<22} {status}")

    print()
    tables = [t for t in collect_tables(output_root, seeds=args.seeds) if t.protocol == "base2new"]
    for table in tables:
        print(render_markdown(table))
    print("(random CLIP weights: these numbers demonstrate the pipeline, not the method)")
    print(f"Logs and checkpoints: {output_root}")
    print(f"Same table from the run folders: python -m enprompt.results {output_root}")
    print(f"Demo finished in {time.time() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
