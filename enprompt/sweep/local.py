"""Jobs as processes of this machine: up to N at once, each on its own GPUs.

Each job is its script, started with the job's environment; its output goes
to ``<log folder>/<job>.log``. With GPUs, a job gets ``--gpus-per-job G``
devices through ``CUDA_VISIBLE_DEVICES``, and never more jobs run than the
GPUs allow (``G`` devices each); with ``G > 1`` the script starts
``train.py`` through torchrun (``LAUNCHER``, set by the sweep's plan).

The processes belong to the sweep's process group: Ctrl-C in the terminal
stops them as it stops a script (``train.py`` records how far it got), and a
SIGTERM to the sweep is passed on to them. A finished run is never lost: it
is a run folder with its manifest, and the next sweep skips it.
"""
import os
import os.path as osp
import signal
import subprocess
import time

from enprompt.processes import signal_tree

from .plan import job_environment

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Run jobs as subprocesses (see the module docstring).

    Args:
        log_dir (str): the folder of the jobs' logs.
        max_parallel (int): jobs at once.
        gpus (list[str]): the device ids to share out ([] for the CPU).
        gpus_per_job (int): devices per job.
    """

    name = "local"

    def __init__(self, log_dir, max_parallel=1, gpus=(), gpus_per_job=1):
        self.log_dir = log_dir
        self.free_gpus = list(gpus)
        self.gpus_per_job = gpus_per_job if gpus else 0
        slots = max(1, int(max_parallel))
        if self.gpus_per_job:
            slots = min(slots, len(self.free_gpus) // self.gpus_per_job)
        self.slots = slots
        self.running = {}  # job -> (process, devices, log file)
        os.makedirs(log_dir, exist_ok=True)

    def describe(self):
        where = (f"{len(self.free_gpus)} GPU(s), {self.gpus_per_job} per job"
                 if self.gpus_per_job else "the CPU")
        return f"local: up to {self.slots} job(s) at once on {where}; logs in {self.log_dir}"

    def submit(self, ready):
        """Start as many of the ``ready`` jobs as there are free slots; returns those started."""
        started = []
        for job in ready:
            if len(self.running) >= self.slots:
                break
            devices = []
            if self.gpus_per_job:
                devices, self.free_gpus = (self.free_gpus[:self.gpus_per_job],
                                           self.free_gpus[self.gpus_per_job:])
            env = job_environment(job)
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
            job.log = osp.join(self.log_dir, job.name + ".log")
            log = open(job.log, "ab")
            process = subprocess.Popen(job.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            self.running[job] = (process, devices, log)
            started.append(job)
        return started

    def poll(self):
        """``[(job, exit status, error)]`` of the jobs that ended since the last call."""
        ended = []
        for job, (process, devices, log) in list(self.running.items()):
            code = process.poll()
            if code is None:
                continue
            log.close()
            self.free_gpus.extend(devices)
            del self.running[job]
            error = "" if code == 0 else _exit_text(code)
            ended.append((job, code, error))
        return ended

    def stop(self, sig=signal.SIGTERM, wait_s=60):
        """Pass ``sig`` to the running jobs and wait for them (then kill what is left)."""
        for process, _, _ in self.running.values():
            if process.poll() is None:
                signal_tree(process.pid, sig)
        deadline = time.time() + wait_s
        for process, _, log in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                signal_tree(process.pid, signal.SIGKILL)
                process.wait()
            log.close()


def _exit_text(code):
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return {130: "interrupted (Ctrl-C)", 143: "stopped (SIGTERM)"}.get(code, f"exit status {code}")
