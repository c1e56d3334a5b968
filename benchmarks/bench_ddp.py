"""The data-parallel training step against one process at the same global batch.

Times the trainer's own step (``trainers.enprompt.enprompt_step``: forward,
the loss check, backward, optimizer step, the loss terms read back) of the
EnPrompt model (``build_enprompt_model``, as the trainer builds it, OT on):

* ``ddp``: ``--processes N`` processes (``torch.multiprocessing``; gloo on
  the CPU, nccl with one GPU each on CUDA) wrapped as the trainer wraps the
  model (``enprompt.distributed.data_parallel``), each with a batch of
  ``--batch-size`` images, the OT features gathered over the processes;
* ``single``: one process with the global batch, ``N x --batch-size``.

Each step starts after a barrier, so the figure is the time of one global
batch, from which images per second follow. On the CPU the single process
uses ``--threads`` threads and each of the N processes ``max(1, threads // N)``. CLIP is random (``--arch``): a step costs the
same whatever the weights. The median over ``--steps`` steps after
``--warmup`` steps is reported, with the machine it ran on.

Example (the figure of docs/SCALING.md)::

    python benchmarks/bench_ddp.py --arch ViT-B/16 --processes 2 --batch-size 2 \\
        --steps 10 --warmup 2 --json ddp.json
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.report import machine_info, write_report  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="ViT-B/16", help="random CLIP architecture (enprompt.tiny_clip)")
    parser.add_argument("--processes", type=int, default=2, help="N, the processes of the DDP run")
    parser.add_argument("--batch-size", type=int, default=2, help="per-process batch b (single: N*b)")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--precision", default="fp32", help="TRAINER.ENPROMPT.PREC")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="CPU threads: of the single process, and divided among the N processes "
                        "(at least one each)")
    parser.add_argument("--config-file", default=osp.join(
        REPO_ROOT, "configs", "trainers", "EnPrompt", "vit_b16_c4_ep5_batch4_base2new.yaml"))
    parser.add_argument("--json", default="", help="write the report here")
    return parser


def _cfg(args):
    from enprompt.config import add_enprompt_config
    from enprompt.engine.defaults import get_cfg_default

    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.DATASET.NAME = "ImageNet"
    cfg.TRAINER.ENPROMPT.PREC = args.precision
    return cfg


def _measure(args, batch_size, device):
    """Median seconds per step of this process (every process calls it in a DDP run)."""
    import torch

    from enprompt.dassl import build_optimizer
    from enprompt.distributed import barrier, data_parallel
    from enprompt.model import build_enprompt_model
    from enprompt.model.precision import cast_clip_weights, resolve_precision
    from enprompt.tiny_clip import build_random_clip
    from trainers.enprompt import enprompt_step

    cfg = _cfg(args)
    precision = resolve_precision(cfg.TRAINER.ENPROMPT.PREC, device)
    clip_model = cast_clip_weights(build_random_clip(args.arch, seed=0, half=True), precision)
    classes = [f"object category {i}" for i in range(args.classes)]
    model = build_enprompt_model(cfg, clip_model, classes, device=device)
    optimizer = build_optimizer(model.prompt_learner, cfg.OPTIM)
    step_model = data_parallel(model, device)
    scaler = torch.amp.GradScaler(device.type) if precision == "amp" else None
    size = cfg.INPUT.SIZE
    images = torch.randn(batch_size, 3, *size, device=device)
    labels = torch.randint(0, args.classes, (batch_size,), device=device)
    times = []
    for i in range(args.warmup + args.steps):
        barrier()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        enprompt_step(step_model, optimizer, scaler, images, labels, precision, lambda *a: None)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        barrier()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), precision


def _ddp_worker(rank, args, store, out):
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(max(1, args.threads // args.processes))
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"file://{store}", rank=rank,
                            world_size=args.processes)
    try:
        device = torch.device("cuda", rank) if cuda else torch.device("cpu")
        seconds, _ = _measure(args, args.batch_size, device)
        if rank == 0:
            with open(out, "w") as f:
                f.write(repr(seconds))
    finally:
        dist.destroy_process_group()


def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch
    import torch.multiprocessing as mp

    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    global_batch = args.processes * args.batch_size
    single, precision = _measure(args, global_batch, device)
    with tempfile.TemporaryDirectory() as folder:
        out = osp.join(folder, "seconds")
        mp.spawn(_ddp_worker, args=(args, osp.join(folder, "store"), out), nprocs=args.processes)
        with open(out) as f:
            ddp = float(f.read())
    report = {
        "machine": machine_info(device, args.precision, precision),
        "config": {"arch": args.arch, "classes": args.classes, "processes": args.processes,
                   "batch_per_process": args.batch_size, "global_batch": global_batch,
                   "threads": args.threads, "steps": args.steps, "warmup": args.warmup},
        "single": {"step_s": single, "images_per_s": global_batch / single},
        "ddp": {"step_s": ddp, "images_per_s": global_batch / ddp},
        "ddp_over_single": ddp / single,
    }
    print(f"{args.arch}, global batch {global_batch}, {precision} on {device.type} "
          f"({args.threads} threads on the CPU):")
    print(f"  one process, batch {global_batch}:      {single * 1000:8.1f} ms/step  "
          f"{global_batch / single:7.1f} img/s")
    print(f"  DDP {args.processes} x batch {args.batch_size}:            {ddp * 1000:8.1f} ms/step  "
          f"{global_batch / ddp:7.1f} img/s  ({ddp / single:.2f}x the single step)")
    if args.json:
        write_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
