"""What a sweep costs on top of its jobs, and what running jobs side by side gains.

On the demo's texture dataset (DTD layout, tiny random CLIP, ``--epochs``
epochs), a base-to-novel sweep over ``--seeds`` (a training and a test per
seed) is run three ways, each into an output folder of its own:

* ``by_hand``: each job's script one after the other (the commands the
  sweep's plan lists), as a user would type them;
* ``sweep_parallel_1``: ``python -m enprompt.sweep ... --executor local --max-parallel 1``;
* ``sweep_parallel_2``: the same with ``--max-parallel 2``.

The sweep's overhead per job is ``(sweep_parallel_1 - by_hand) / jobs``: its
start, the plan (``train.py``'s own decision for every folder), polling and
the table. ``plan_ms_per_job`` is the time of ``--dry-run`` for the full
few-shot protocol (165 jobs) divided by its jobs.

Example (the figures of docs/SCALING.md)::

    python benchmarks/bench_sweep.py --seeds 1 2 3 --json sweep.json
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.report import write_report  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workdir", default="", help="where the data and outputs go "
                        "(default: a temporary folder)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    return parser


def _timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def run(args, workdir):
    from enprompt.demo import make_texture_dataset
    from enprompt.sweep.plan import build_sweep, job_environment
    from enprompt.tiny_clip import save_random_clip

    data = osp.join(workdir, "data")
    make_texture_dataset(data, num_classes=4, images_per_class=12)
    clip = save_random_clip(osp.join(workdir, "tiny-ViT.pt"), arch="tiny", seed=0)
    opts = ["DATALOADER.NUM_WORKERS", "0", "TRAINER.ENPROMPT.CLIP_WEIGHTS", clip,
            "TRAINER.ENPROMPT.PREC", "fp32", "OPTIM.MAX_EPOCH", str(args.epochs)]
    env = dict(os.environ, DATA=data, ENPROMPT_ENGINE="builtin", OMP_NUM_THREADS="1")
    seeds = [str(s) for s in args.seeds]
    sweep_args = ["base2new", "--datasets", "dtd", "--seeds", *seeds, "--executor", "local"]

    figures = {}
    os.environ["DATA"] = data
    hand = build_sweep("base2new", ["dtd"], args.seeds, output=osp.join(workdir, "by_hand"),
                       opts=opts, data=data)
    start = time.perf_counter()
    for job in hand.jobs:
        done = subprocess.run(job.argv, env=dict(job_environment(job, env)), cwd=REPO_ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{job.argv} failed:\n{done.stderr[-2000:]}")
    figures["by_hand_s"] = time.perf_counter() - start
    jobs = len(hand.jobs)
    for parallel in (1, 2):
        out = osp.join(workdir, f"sweep_{parallel}")
        figures[f"sweep_parallel_{parallel}_s"] = _timed(
            [sys.executable, "-m", "enprompt.sweep", *sweep_args, "--max-parallel", str(parallel),
             "--output", out, "--", *opts], env)
    figures["jobs"] = jobs
    figures["overhead_per_job_s"] = (figures["sweep_parallel_1_s"] - figures["by_hand_s"]) / jobs
    dry = _timed([sys.executable, "-m", "enprompt.sweep", "few_shot", "--dry-run", "--output",
                  osp.join(workdir, "dry")], env)
    figures["plan_ms_per_job"] = 1000 * dry / 165
    figures["dry_run_few_shot_s"] = dry
    return figures


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        figures = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            figures = run(args, workdir)
    machine = {"cpus_usable": len(os.sched_getaffinity(0)), "load_average": list(os.getloadavg()),
               "date": time.strftime("%Y-%m-%d", time.gmtime())}
    report = {"machine": machine, "epochs": args.epochs, "seeds": args.seeds, **figures}
    for key, value in report.items():
        print(f"{key}: {round(value, 3) if isinstance(value, float) else value}")
    if args.json:
        write_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
