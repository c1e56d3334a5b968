"""The callable a Slurm job of a sweep runs: one script command, requeued when preempted.

Slurm runs it through submitit (once per task: with ``--gpus-per-job G > 1``
the G tasks each start the same script, and ``train.py`` forms one
data-parallel run from the Slurm environment, :mod:`enprompt.distributed`).

When Slurm preempts the job or its time runs out, submitit calls
:meth:`ScriptTask.checkpoint` (``SIGUSR2`` before the end): the script is
stopped the way Ctrl-C stops it (``SIGTERM``: ``train.py`` records the epochs
done), and the same command is requeued. ``train.py`` resumes from its last
checkpoint by itself, so nothing else is saved here.
"""
import os
import signal
import subprocess
import time

import submitit

from enprompt.processes import group_members, signal_group

__all__ = ["ScriptTask"]

# How long a stopped script may take to record its state before it is killed.
_STOP_WAIT_S = 60


def _ignore_usr2():
    # Slurm sends the warning signal to every process of the job; only submitit's
    # handler (in this process) acts on it, then stops the script with SIGTERM.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class ScriptTask(submitit.helpers.Checkpointable):
    """Run ``argv`` with ``env`` added to the job's environment; returns its exit status.

    Args:
        argv (list[str]): ``["bash", <script>, args...]``.
        env (dict): the variables to set (``DATA``, ``OUTPUT``, ...).
        drop (tuple[str]): variables to remove from the job's environment.
    """

    def __init__(self):
        self._process = None

    def __call__(self, argv, env, drop=()):
        full = {k: v for k, v in os.environ.items() if k not in drop}
        full.update(env)
        # A process group of its own, so that checkpoint() stops the script and train.py alike.
        self._process = subprocess.Popen(argv, env=full, preexec_fn=_ignore_usr2,
                                         start_new_session=True)
        return self._process.wait()

    def checkpoint(self, argv, env, drop=()):
        """Stop the script cleanly, then requeue the same command (``train.py`` resumes)."""
        process = self._process
        if process is not None:
            # Called from the signal handler while __call__ waits on the process: that wait
            # holds the process's lock, so this one watches /proc instead of waiting.
            signal_group(process.pid, signal.SIGTERM)
            deadline = time.time() + _STOP_WAIT_S
            while group_members(process.pid) and time.time() < deadline:
                time.sleep(0.1)
            signal_group(process.pid, signal.SIGKILL)
        return submitit.helpers.DelayedSubmission(ScriptTask(), argv, env, drop)

    def __getstate__(self):
        return {}  # the running process stays behind; a requeued job starts its own

    def __setstate__(self, state):
        self._process = None
