"""Throughput of the engine's data loaders, to compare with the model's.

Writes ``--images`` JPEG files of ``--image-size`` (default 500x375, the size
of a typical Caltech101 / OxfordPets photo) to a temporary folder, builds the
train and test loaders exactly as ``DataManager`` does (``build_data_loader``
with the config's transforms, batch sizes and ``DATALOADER.NUM_WORKERS``), and
for each number of workers in ``--workers`` iterates ``--epochs`` epochs.

Per loader and worker count it reports:

* ``first_batch_s``: from creating the epoch's iterator to the first batch
  (starting the worker processes + the first batch), median over epochs; the
  per-epoch cost that ``persistent_workers`` would remove;
* ``images_per_s``: images per second over whole epochs, that start included;
* ``steady_images_per_s``: images per second after the first batch.

The loader keeps the model fed when ``images_per_s`` is above the model's
training (``bench_train.py``) or evaluation throughput.

Example::

    python benchmarks/bench_data.py --images 200 --workers 0,2,8 --json data.json
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.report import machine_info, write_report  # noqa: E402

DEFAULT_CONFIG = osp.join(REPO_ROOT, "configs", "trainers", "EnPrompt", "vit_b16_c4_ep5_batch4_base2new.yaml")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200, help="number of JPEG files")
    parser.add_argument("--image-size", default="500x375", help="WIDTHxHEIGHT of the files")
    parser.add_argument("--workers", default="0,2", help="comma list of DATALOADER.NUM_WORKERS values")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per loader and worker count")
    parser.add_argument("--config-file", default=DEFAULT_CONFIG, help="EnPrompt trainer config (yaml)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads in this process (0: default)")
    parser.add_argument("--json", default="", help="write the results here")
    args = parser.parse_args(argv)
    try:
        args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
        width, height = (int(v) for v in args.image_size.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"--workers {args.workers!r} / --image-size {args.image_size!r}: {err}") from err
    if not args.worker_counts or min(args.worker_counts) < 0:
        raise ValueError(f"--workers must list numbers >= 0, got {args.workers!r}")
    if args.images < 1 or args.epochs < 1 or width < 1 or height < 1:
        raise ValueError("--images, --epochs and --image-size must be positive")
    if not osp.isfile(args.config_file):
        raise FileNotFoundError(f'--config-file "{args.config_file}" does not exist')
    args.width, args.height = width, height
    return args


def write_images(folder, n, width, height, seed=0):
    """``n`` photo-like JPEGs (smooth colour fields plus grain), quality 90."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            (width, height), Image.BICUBIC
        )
        grain = rng.normal(0, 8, (height, width, 3))
        pixels = np.clip(np.asarray(coarse, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        path = osp.join(folder, f"img_{i:05d}.jpg")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def build_cfg(config_file):
    from enprompt.config import add_enprompt_config
    from enprompt.dassl import get_cfg_default

    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(config_file)
    return cfg


def time_loader(loader, epochs):
    """First-batch latency and throughput per epoch (a fresh iterator each epoch, as the trainer)."""
    first, total_rates, steady_rates = [], [], []
    for _ in range(epochs):
        start = time.perf_counter()
        n_images, first_at = 0, None
        for batch in loader:
            if first_at is None:
                first_at = time.perf_counter()
                first_size = len(batch["label"])
            n_images += len(batch["label"])
        end = time.perf_counter()
        first.append(first_at - start)
        total_rates.append(n_images / (end - start))
        if n_images > first_size and end > first_at:
            steady_rates.append((n_images - first_size) / (end - first_at))
    return {
        "first_batch_s": statistics.median(first),
        "images_per_s": statistics.median(total_rates),
        "steady_images_per_s": statistics.median(steady_rates) if steady_rates else None,
        "images_per_epoch": n_images,
    }


def main(argv=None):
    args = parse_args(argv)
    import torch

    from enprompt.dassl import Datum, build_data_loader, build_transform

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = build_cfg(args.config_file)
    tfm_train = build_transform(cfg, is_train=True)
    tfm_test = build_transform(cfg, is_train=False)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-data-") as folder:
        items = [Datum(impath=p, label=i % 10) for i, p in enumerate(
            write_images(folder, args.images, args.width, args.height))]
        for workers in args.worker_counts:
            cfg.defrost()
            cfg.DATALOADER.NUM_WORKERS = workers
            for split, tfm, batch_size, sampler, is_train in (
                ("train", tfm_train, cfg.DATALOADER.TRAIN_X.BATCH_SIZE, cfg.DATALOADER.TRAIN_X.SAMPLER, True),
                ("test", tfm_test, cfg.DATALOADER.TEST.BATCH_SIZE, cfg.DATALOADER.TEST.SAMPLER, False),
            ):
                loader = build_data_loader(
                    cfg, sampler_type=sampler, data_source=items, batch_size=batch_size, tfm=tfm, is_train=is_train
                )
                entry = {"split": split, "workers": workers, "batch_size": batch_size,
                         "pin_memory": loader.pin_memory, "persistent_workers": loader.persistent_workers}
                entry.update(time_loader(loader, args.epochs))
                results.append(entry)
                print(f"{split:5s} workers={workers}: {entry['images_per_s']:.1f} img/s, "
                      f"first batch {entry['first_batch_s']:.3f}s", flush=True)

    report = {
        "command": "python benchmarks/bench_data.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(torch.device("cpu")),
        "config": {"images": args.images, "image_size": [args.width, args.height], "epochs": args.epochs,
                   "transforms_train": list(cfg.INPUT.TRANSFORMS)},
        "loaders": results,
    }
    lines = ["| loader | workers | batch | first batch (s) | img/s (whole epoch) | img/s (after first batch) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        steady = "-" if r["steady_images_per_s"] is None else f"{r['steady_images_per_s']:.1f}"
        lines.append(f"| {r['split']} | {r['workers']} | {r['batch_size']} | {r['first_batch_s']:.3f} "
                     f"| {r['images_per_s']:.1f} | {steady} |")
    print("\n".join(lines), flush=True)
    if args.json:
        write_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
