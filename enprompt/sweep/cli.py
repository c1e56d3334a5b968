"""``python -m enprompt.sweep`` (and ``enprompt-sweep``): a whole protocol as one sweep."""
import argparse
import os.path as osp
import sys
import time

from enprompt.errors import UserError
from enprompt.protocols import PROTOCOLS

__all__ = ["build_parser", "main"]

_EPILOG = """\
Every job is the command of a script of scripts/enprompt/ (same folders, logs,
skip and resume rules); options after -- are passed to every run, like the
scripts' KEY VALUE options. DATA is read from the environment as by the scripts.
A rerun of the same sweep runs only what is missing.

examples:
  python -m enprompt.sweep base2new --dry-run
  python -m enprompt.sweep base2new --datasets dtd eurosat --max-parallel 2
  python -m enprompt.sweep few_shot --shots 1 16 --executor slurm --slurm-partition gpu
  python -m enprompt.sweep xd --seeds 1 -- OPTIM.MAX_EPOCH 1
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.sweep", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a protocol of the paper (every dataset, seed and shot count) as one "
        "sweep of script runs, on this machine or on Slurm, and print its table.",
    )
    parser.add_argument("protocol", choices=list(PROTOCOLS), metavar="PROTOCOL",
                        help=f"one of {', '.join(PROTOCOLS)}")
    parser.add_argument("--datasets", nargs="+", metavar="D",
                        help="a subset of the protocol's datasets (xd, dg: of its targets; "
                        "default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="S", help="default: 1 2 3")
    parser.add_argument("--shots", nargs="+", type=int, metavar="K",
                        help="few_shot: a subset of 1 2 4 8 16 (the default)")
    parser.add_argument("--executor", choices=["auto", "local", "slurm"], default="auto",
                        help="auto (default): slurm when sbatch is on the PATH, else local")
    parser.add_argument("--max-parallel", type=int, default=1, metavar="N",
                        help="jobs at once (slurm: the job arrays' parallelism; default: 1)")
    parser.add_argument("--gpus-per-job", type=int, default=None, metavar="G",
                        help="GPUs per job; G > 1 runs each job on G processes (torchrun on "
                        "this machine, G tasks on Slurm). Default: 1 where there are GPUs, "
                        "else 0 (the CPU)")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="the output root (the scripts' OUTPUT; default: $OUTPUT, else "
                        "<repository>/output)")
    parser.add_argument("--cfg", default="", metavar="NAME",
                        help="trainer config name (the scripts' CFG; default: the protocol's)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (each job, its command, skipped or not) and exit")
    slurm = parser.add_argument_group("slurm")
    slurm.add_argument("--slurm-partition", default="", metavar="P")
    slurm.add_argument("--slurm-time", type=int, default=None, metavar="MIN",
                       help="time limit per job in minutes (a job that reaches it is requeued "
                       "and resumes)")
    slurm.add_argument("--slurm-cpus", type=int, default=None, metavar="C", help="CPUs per task")
    slurm.add_argument("--slurm-mem-gb", type=float, default=None, metavar="M")
    slurm.add_argument("--slurm-extra", nargs="+", default=[], metavar="KEY=VALUE",
                       help="any other submitit Slurm parameter, e.g. account=proj "
                       "qos=high (the slurm_ prefix is added)")
    return parser


def _split_opts(argv):
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _choose_executor(args):
    from .slurm import slurm_available

    if args.executor == "auto":
        return "slurm" if slurm_available() else "local"
    if args.executor == "slurm" and not slurm_available():
        raise UserError("--executor slurm needs Slurm's sbatch on the PATH; none was found "
                        "(use --executor local, or scripts/slurm/local_cluster.sh for a "
                        "one-node cluster on this machine)")
    return args.executor


def _print_plan(sweep, verbose):
    counts = {}
    for job in sweep.jobs:
        counts[job.action] = counts.get(job.action, 0) + 1
    summary = ", ".join(f"{n} {'to run' if a == 'run' else a}" for a, n in counts.items())
    print(f"Sweep {sweep.protocol.name}: {len(sweep.jobs)} job(s): {summary}")
    print(f"  DATA={sweep.data}\n  OUTPUT={sweep.output}" + (f"\n  CFG={sweep.cfg}" if sweep.cfg else ""))
    for job in sweep.jobs:
        if not verbose and job.action in ("run", "skip"):
            continue
        script = osp.relpath(job.argv[1], osp.dirname(osp.dirname(job.argv[1])))
        args = " ".join(job.argv[2:])
        print(f"  [{job.action}] {job.name}: {job.reason}")
        if verbose:
            print(f"      bash scripts/{script} {args}")


def _gpus_per_job(args, kind):
    if args.gpus_per_job is not None:
        if args.gpus_per_job < 0:
            raise UserError(f"--gpus-per-job must be 0 or more, got {args.gpus_per_job}")
        return args.gpus_per_job
    if kind == "slurm":
        from .slurm import partition_has_gpus

        return 1 if partition_has_gpus(args.slurm_partition) else 0
    from .gpus import visible_gpus

    return 1 if visible_gpus() else 0


def main(argv=None):
    argv, opts = _split_opts(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return _main(args, opts)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2


def _main(args, opts):
    from enprompt.results.cli import default_root

    from .plan import build_sweep, plan

    if args.max_parallel < 1:
        raise UserError(f"--max-parallel must be at least 1, got {args.max_parallel}")
    kind = _choose_executor(args)
    gpus_per_job = _gpus_per_job(args, kind)
    launcher = ""
    if gpus_per_job > 1 and kind == "local":
        launcher = (f"{sys.executable} -m torch.distributed.run --standalone "
                    f"--nproc_per_node {gpus_per_job}")
    output = args.output or default_root()
    sweep = build_sweep(args.protocol, args.datasets, args.seeds, args.shots, output, args.cfg,
                        opts, launcher=launcher)
    started = time.time()
    plan(sweep, world_size=max(1, gpus_per_job))
    _print_plan(sweep, verbose=args.dry_run)
    if args.dry_run:
        return 0

    folder = osp.join(sweep.output, "sweeps", sweep.protocol.name)
    if kind == "slurm":
        from .slurm import SlurmExecutor

        executor = SlurmExecutor(osp.join(folder, "submitit"), args.max_parallel, gpus_per_job,
                                 args.slurm_partition, args.slurm_time, args.slurm_cpus,
                                 args.slurm_mem_gb, args.slurm_extra)
    else:
        from .gpus import visible_gpus
        from .local import LocalExecutor

        gpus = visible_gpus() if gpus_per_job else []
        if gpus and gpus_per_job > len(gpus):
            raise UserError(f"--gpus-per-job {gpus_per_job} but this machine has "
                            f"{len(gpus)} GPU(s) ({','.join(gpus)})")
        executor = LocalExecutor(osp.join(folder, "logs"), args.max_parallel, gpus, gpus_per_job)
    print(f"Executor: {executor.describe()}")
    sys.stdout.flush()

    from .schedule import run_jobs

    try:
        failed = run_jobs(sweep, executor, poll_s=2.0 if kind == "slurm" else 0.5)
    except KeyboardInterrupt:
        return 130
    return _finish(sweep, failed, folder, started, args.seeds)


def _finish(sweep, failed, folder, started, seeds):
    from .report import failure_lines, protocol_tables, write_table_file, write_tables, zeroshot_table

    refused = [job for job in sweep.jobs if job.action in ("refuse", "blocked")]
    for job in refused:
        job.error = f"{job.action}: {job.reason}"
    ran = len(sweep.to_run())
    print(f"Sweep {sweep.protocol.name} ended in {time.time() - started:.0f} s: "
          f"{ran - len(failed)} of {ran} job(s) run, "
          f"{sum(j.action == 'skip' for j in sweep.jobs)} skipped, "
          f"{len(failed) + len(refused)} failed or refused.")
    if sweep.protocol.name == "zeroshot":
        text = zeroshot_table(sweep)
        path = write_table_file(text, osp.join(folder, "zeroshot.md"))
        print("\n" + text + f"\nTable written to {path}")
    else:
        tables = protocol_tables(sweep, seeds)
        if tables:
            from enprompt.results.render import render_markdown

            print("\n" + "\n".join(render_markdown(t) for t in tables), end="")
            written = write_tables(tables, folder)
            print(f"\nTable written to {', '.join(written)}")
            print(f"Same table: python -m enprompt.results {sweep.output}")
    if failed or refused:
        print(f"\n{len(failed) + len(refused)} job(s) did not finish:")
        print("\n".join(failure_lines(failed + refused)))
        print("Rerun the same sweep to run only what is missing (unfinished runs resume).")
        return 1
    return 0
