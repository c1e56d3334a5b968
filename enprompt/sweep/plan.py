"""The jobs of a sweep: one script run per dataset, seed and shot count, and what each still needs.

A protocol of :mod:`enprompt.protocols` expands into :class:`Job` objects, one
per step, dataset, seed and shot count. A job *is* a command of
``scripts/enprompt/`` (``bash scripts/enprompt/base2new_train.sh dtd 1 KEY
VALUE ...``), run with the sweep's ``DATA``, ``OUTPUT`` and ``CFG``, so the
run folders, logs and skip/resume rules are those of the scripts.

:func:`plan` decides, for each job, what ``train.py`` would do with its folder
now (:mod:`enprompt.sweep.decide`): ``skip`` (finished), ``run`` (start, or
resume an unfinished run), ``refuse`` (another experiment, a damaged
manifest, another process in the folder). An evaluation whose model is still
to be trained runs after that training, and is decided then by ``train.py``.
"""
import os
import os.path as osp
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from enprompt.errors import UserError
from enprompt.protocols import PROTOCOLS, SEEDS

__all__ = ["REPO", "SweepError", "Job", "Sweep", "build_sweep", "plan", "check_checkout"]

# The repository of a source checkout: the scripts and train.py the jobs run.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPTS = osp.join(REPO, "scripts", "enprompt")
# Environment of the scripts that a sweep must not pass on to every job.
_DROPPED_ENV = ("OVERWRITE", "LOADEP")


class SweepError(UserError, ValueError):
    """A sweep cannot be planned as asked; the message says what to change."""


def check_checkout():
    """Raise :class:`SweepError` unless the scripts and ``train.py`` are next to this package."""
    if not (osp.isdir(SCRIPTS) and osp.isfile(osp.join(REPO, "train.py"))):
        raise SweepError(
            f"python -m enprompt.sweep runs the scripts of scripts/enprompt/ and train.py of a "
            f"source checkout, and found none at {REPO}. Install the repository with "
            "`pip install -e <checkout>` (or run from the checkout)."
        )


@dataclass(eq=False)  # a job is itself: hashable by identity
class Job:
    """One script run of a sweep.

    Attributes:
        step (Step): the protocol step (:data:`enprompt.protocols.STEPS`).
        dataset (str), seed (int or None), shots (int or None): what it runs.
        argv (list[str]): the script and its arguments, ``["bash", <script>, ...]``.
        env (dict): the variables the job sets on top of the sweep's
            environment (``DATA``, ``OUTPUT``, ``CFG``, ``PYTHON``).
        run_dir (str): its ``train.py --output-dir``.
        needs (list[Job]): the jobs that must finish first (the training of
            an evaluation's model).
        action (str): the plan: ``skip``, ``run``, ``refuse``, or ``blocked``
            (a job it needs is refused).
        reason (str): why, in one line (the decision's reason).
        state (str): while the sweep runs: ``queued``, ``running``,
            ``finished``, ``failed``, ``skipped``.
        log (str): where the job's output goes.
        error (str): why it failed.
    """

    step: object
    dataset: str
    seed: Optional[int]
    shots: Optional[int]
    argv: list
    env: dict
    run_dir: str
    needs: list = field(default_factory=list)
    action: str = "run"
    reason: str = ""
    state: str = "queued"
    log: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def name(self):
        """``<step>-<dataset>[-<K>shots][-seed<S>]``: unique in a sweep, used for log files."""
        parts = [self.step.name, self.dataset]
        if self.step.name == "few_shot":
            parts.append(f"{self.shots}shots")
        if self.seed is not None:
            parts.append(f"seed{self.seed}")
        return "-".join(parts)

    def shell_command(self):
        """The command that runs just this job by hand (from any folder)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items())
                       if k in ("DATA", "OUTPUT", "CFG", "LAUNCHER"))
        script = osp.relpath(self.argv[1], REPO)
        args = " ".join(shlex.quote(a) for a in self.argv[2:])
        return f"cd {shlex.quote(REPO)} && {env} bash {script} {args}".rstrip()


@dataclass
class Sweep:
    """A protocol expanded into jobs (in an order where every job follows what it needs)."""

    protocol: object
    jobs: list
    output: str
    data: str
    opts: list
    cfg: str = ""

    def to_run(self):
        return [job for job in self.jobs if job.action == "run"]


def _default(values, allowed, what, protocol):
    if not values:
        return list(allowed)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise SweepError(
            f"{what} {unknown[0]!r} is not one of protocol {protocol.name}'s: "
            f"{' '.join(str(a) for a in allowed)}"
        )
    return list(dict.fromkeys(values))


def build_sweep(protocol_name, datasets=None, seeds=None, shots=None, output=None, cfg="",
                opts=(), data=None, launcher=""):
    """Expand a protocol into its jobs.

    Args:
        protocol_name (str): a key of :data:`enprompt.protocols.PROTOCOLS`.
        datasets, seeds, shots (list or None): subsets (default: the paper's,
            from :mod:`enprompt.protocols`). ``shots`` only for ``few_shot``.
        output (str): the output root (the scripts' ``OUTPUT``).
        cfg (str): the scripts' ``CFG`` ("" for each step's default).
        opts (list[str]): ``KEY VALUE`` options passed to every run.
        data (str): the scripts' ``DATA`` (default: ``$DATA``).
        launcher (str): the scripts' ``LAUNCHER`` ("" for ``$PYTHON``).

    Returns:
        Sweep
    """
    import sys

    check_checkout()
    if protocol_name not in PROTOCOLS:
        raise SweepError(f"unknown protocol {protocol_name!r}; choose from {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[protocol_name]
    data = data if data is not None else os.environ.get("DATA", "")
    if not data:
        raise SweepError("DATA is not set. Set it to the folder that holds the datasets, e.g. "
                         "'export DATA=/path/to/data' (layout: docs/DATASETS.md).")
    if len(opts) % 2:
        raise SweepError(f"the options after -- must be KEY VALUE pairs, got {list(opts)}")
    datasets = _default(datasets, protocol.datasets, "dataset", protocol)
    seeds = [int(s) for s in (seeds or SEEDS)]
    if shots and protocol.name != "few_shot":
        raise SweepError(f"--shots is for the few_shot protocol; {protocol.name} runs "
                         f"{protocol.shots or 'no'} shots (DATASET.NUM_SHOTS K after -- "
                         "changes it for every run)")
    shot_list = [int(k) for k in _default(shots, protocol.shots, "shot count", protocol)] \
        if protocol.name == "few_shot" else [None]
    env = {"DATA": osp.abspath(data), "OUTPUT": osp.abspath(output), "PYTHON": sys.executable}
    if cfg:
        env["CFG"] = cfg
    if launcher:
        env["LAUNCHER"] = launcher

    jobs, by_key = [], {}

    def add(step, dataset, seed, k):
        key = (step.name, dataset, seed, k)
        if key in by_key:
            return by_key[key]
        argv = ["bash", osp.join(SCRIPTS, step.script), *step.script_args(dataset, seed, k),
                *[str(o) for o in opts]]
        job = Job(step, dataset, seed, k, argv, dict(env), run_dir="")
        if step.model is not None:
            model_dataset = step.model_dataset or dataset
            job.needs.append(add(step.model, model_dataset, seed, k))
        by_key[key] = job
        jobs.append(job)
        return job

    for seed in (seeds if protocol.steps[0].seeded else [None]):
        for k in shot_list:
            if protocol.source:  # the source training first, then its targets
                add(protocol.steps[0], protocol.source, seed, k)
            for dataset in datasets:
                for step in protocol.steps:
                    if protocol.source and step.model is None:
                        continue
                    add(step, dataset, seed, k)
    return Sweep(protocol, jobs, env["OUTPUT"], env["DATA"], list(opts), cfg)


def job_environment(job, base=None):
    """The full environment of a job's process: ``base`` (default: ours) less what a
    sweep must not pass on (``OVERWRITE``, ``LOADEP``), plus the job's variables."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _DROPPED_ENV}
    env.update(job.env)
    return env


def train_py_args(job):
    """The ``train.py`` arguments the job's script runs (the script prints them).

    Raises:
        SweepError: the script refuses its arguments (its message).
    """
    env = job_environment(job)
    env["ENPROMPT_PRINT_TRAIN_ARGS"] = "1"
    process = subprocess.run(job.argv, env=env, capture_output=True, timeout=60)
    if process.returncode != 0:
        message = process.stderr.decode("utf-8", "replace").strip()
        raise SweepError(f"{' '.join(job.argv[1:2])} refused {job.argv[2:]}: {message}")
    return [a.decode("utf-8") for a in process.stdout.split(b"\0")[:-1]]


def plan(sweep, world_size=1):
    """Decide every job's action (see the module docstring); returns the sweep.

    Args:
        sweep (Sweep): from :func:`build_sweep`.
        world_size (int): the processes each training run will have (its
            identity differs with more than one).
    """
    from .decide import decide

    for job in sweep.jobs:  # each job follows what it needs
        args = train_py_args(job)
        job.run_dir = args[args.index("--output-dir") + 1]
        blocked = [n for n in job.needs if n.action in ("refuse", "blocked")]
        if blocked:
            job.action, job.reason = "blocked", f"needs {blocked[0].name}, which is refused"
        elif any(n.action == "run" for n in job.needs):
            job.action, job.reason = "run", f"after {job.needs[0].name}"
        else:
            job.action, job.reason = decide(args, world_size)
        if job.action == "skip":
            job.state = "skipped"
    return sweep
