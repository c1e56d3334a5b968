"""Jobs as Slurm job arrays, through submitit.

The jobs that are ready together (every training of a sweep, then the
evaluations whose training ended) are submitted as one job array
(``executor.batch()``), at most ``--max-parallel`` of its tasks running at
once (``slurm_array_parallelism``). Each array task runs
:class:`~enprompt.sweep.task.ScriptTask`: the job's script; a preempted or
timed-out task is requeued and ``train.py`` resumes its run.

The sweep follows its jobs with ``squeue`` and submitit's result files, and
never calls ``sacct``: clusters without accounting (the one-node cluster of
``scripts/slurm/local_cluster.sh``) have none, and submitit would warn on
every poll. A job that leaves the queue without a result file was cancelled
or killed (``scancel``, a node failure): it counts as failed, and the next
sweep resumes its run.
"""
import logging
import os.path as osp
import shutil
import subprocess
import time

from .plan import _DROPPED_ENV, SweepError

__all__ = ["SlurmExecutor", "slurm_available", "partition_has_gpus"]

# Job states of squeue in which a job may still run (or run again).
_ALIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
          "COMPLETING", "SUSPENDED", "RESIZING", "STAGE_OUT", "SIGNALING", "PREEMPTED"}
# How long a job that has left the queue may take to show its result file.
_RESULT_GRACE_S = 15


class _NoSacctWarnings(logging.Filter):
    def filter(self, record):
        return "Bypassing sacct error" not in record.getMessage()


def slurm_available():
    """True when ``sbatch`` is on the PATH."""
    return shutil.which("sbatch") is not None


def partition_has_gpus(partition=""):
    """True when a node of ``partition`` (default: all) offers GPUs (``sinfo``'s GRES)."""
    command = ["sinfo", "-h", "-o", "%G"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "gpu" in out


def _value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_extra(items):
    """``["KEY=VALUE", ...]`` to submitit parameters (``slurm_`` prefixed where it is not)."""
    params = {}
    for item in items or ():
        if "=" not in item:
            raise SweepError(f"--slurm-extra takes KEY=VALUE, got {item!r} (e.g. account=myproj, "
                             "or additional_parameters for sbatch flags submitit does not name)")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        params[key if key.startswith("slurm_") else "slurm_" + key] = _value(value.strip())
    return params


class SlurmExecutor:
    """Submit jobs to Slurm (see the module docstring).

    Args:
        folder (str): submitit's folder (job scripts, pickled calls, each task's output).
        max_parallel (int): ``slurm_array_parallelism`` of each array.
        gpus_per_job (int): GPUs and tasks per job (0: a CPU job of one task).
        partition (str), time_min (int), cpus (int), mem_gb (float): the resources.
        extra (list[str]): ``KEY=VALUE`` submitit parameters (``--slurm-extra``).
    """

    name = "slurm"

    def __init__(self, folder, max_parallel=1, gpus_per_job=0, partition="", time_min=None,
                 cpus=None, mem_gb=None, extra=()):
        import submitit

        logging.getLogger("submitit").addFilter(_NoSacctWarnings())
        self.folder = folder
        self.executor = submitit.AutoExecutor(folder=osp.join(folder, "%j"), cluster="slurm")
        params = {"slurm_array_parallelism": max(1, int(max_parallel)), "nodes": 1,
                  "tasks_per_node": max(1, int(gpus_per_job)), "name": "enprompt-sweep"}
        if gpus_per_job:
            params["gpus_per_node"] = int(gpus_per_job)
        if partition:
            params["slurm_partition"] = partition
        if time_min:
            params["timeout_min"] = int(time_min)
        if cpus:
            params["cpus_per_task"] = int(cpus)
        if mem_gb:
            params["mem_gb"] = float(mem_gb)
        params.update(parse_extra(extra))
        try:
            self.executor.update_parameters(**params)
        except (ValueError, TypeError) as error:
            raise SweepError(f"Slurm parameters refused by submitit: {error}") from None
        self.params = params
        self.slots = None  # Slurm queues them all
        self.running = {}  # job -> (submitit job, time it was last seen alive)

    def describe(self):
        shown = {k: v for k, v in self.params.items() if k != "name"}
        return f"slurm: {shown}; submitit folder {self.folder}"

    def submit(self, ready):
        """Submit every ``ready`` job in one array; returns them."""
        if not ready:
            return []
        from .task import ScriptTask

        with self.executor.batch():
            handles = [self.executor.submit(ScriptTask(), job.argv, job.env, _DROPPED_ENV)
                       for job in ready]
        now = time.time()
        for job, handle in zip(ready, handles):
            job.log = str(handle.paths.stdout)
            self.running[job] = (handle, now)
        return list(ready)

    def _queue_states(self):
        try:
            out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "--states=all"],
                                 capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            return None
        return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)

    def poll(self):
        """``[(job, exit status, error)]`` of the jobs that ended since the last call."""
        if not self.running:
            return []
        states = self._queue_states()
        ended, now = [], time.time()
        for job, (handle, seen) in list(self.running.items()):
            tasks = list(handle._sub_jobs) or [handle]
            if all(t.paths.result_pickle.exists() for t in tasks):
                ended.append(self._result(job, handle))
                continue
            if states is None:
                continue  # squeue did not answer: ask again at the next poll
            state = states.get(handle.job_id, "")
            if state in _ALIVE:
                self.running[job] = (handle, now)
                job.state = "running" if state in ("RUNNING", "COMPLETING") else "queued"
            elif now - seen > _RESULT_GRACE_S:
                del self.running[job]
                ended.append((job, -1, f"left the Slurm queue without a result "
                              f"({state or 'no longer listed'}): cancelled or killed"))
        return ended

    def _result(self, job, handle):
        del self.running[job]
        try:
            codes = handle.results()  # one exit status per task
        except Exception as error:  # submitit's FailedJobError/UncompletedJobError
            return job, -1, str(error).strip().splitlines()[0]
        code = next((c for c in codes if c), 0)
        return job, code, "" if code == 0 else f"exit status {code}"

    def stop(self, sig=None, wait_s=0):
        """Leave submitted jobs to Slurm: they finish without the sweep (rerun it to follow up)."""
        self.running.clear()
