"""Child processes of the tests: their environment, ``python train.py``, and a killed run.

* ``child_env(engine=None, **extra)``: ``os.environ`` with one intra-op
  thread (``OMP_NUM_THREADS=1``: the tiny models gain nothing from more, and
  on a busy machine idle-spinning threads make them several times slower)
  and unbuffered output; ``engine="builtin"`` adds ``ENPROMPT_ENGINE=builtin``
  (``"dassl"`` or ``None`` leave the choice to ``enprompt.dassl``); then
  ``extra``.
* ``assert_succeeded(process, what)``: fails the test with the ends of the
  output of a ``subprocess.CompletedProcess`` that exited non-zero.
* ``run_train_py(argv, env=None, check=True)``: ``python train.py ARGV`` in
  the repository root (``argv``: see :mod:`tests.train_py`).
* ``kill_after_first_checkpoint(command, run_dir, env=None, sig=SIGKILL)``:
  starts a training command in its own process group and sends ``sig`` to the
  group as soon as the run's first resume point exists (``SIGINT``: Ctrl-C in
  the terminal); the group, and every process below it (torchrun starts its
  workers in sessions of their own), is then killed (after up to 120 s for a
  ``sig`` other than ``SIGKILL``); returns that checkpoint's epoch.
* ``wait_for_checkpoint(process, run_dir, timeout=300)``: waits until the
  run folder ``run_dir`` holds its first complete checkpoint while ``process``
  (a ``Popen``) runs; fails the test when the process ends first (with its
  output, where it is a pipe) or after ``timeout`` seconds.
* ``modules_loaded_by(statement, modules)``: which of ``modules`` a fresh
  interpreter has loaded after running ``statement`` (in this process the
  other tests loaded torch long ago), e.g.
  ``modules_loaded_by("import enprompt.config", ["torch"]) == []``.

Nothing here loads torch.
"""
import ast
import os
import os.path as osp
import signal
import subprocess
import sys
import time

from enprompt.checkpoint_layout import saved_epochs
from enprompt.processes import descendants, group_members, is_alive, signal_group, signal_tree
from tests.paths import REPO

__all__ = ["child_env", "assert_succeeded", "run_train_py", "kill_after_first_checkpoint",
           "wait_for_checkpoint", "modules_loaded_by"]


def child_env(engine=None, **extra):
    """The environment of a child process (see the module docstring)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if engine == "builtin":
        env["ENPROMPT_ENGINE"] = "builtin"
    env.update(extra)
    return env


def assert_succeeded(process, what):
    """Fail, showing the last 3000 characters of stdout and stderr, unless ``process`` exited 0."""
    if process.returncode != 0:
        raise AssertionError(
            f"{what} failed ({process.returncode}):\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
        )


def run_train_py(argv, env=None, check=True, timeout=600):
    """``python train.py ARGV`` from the repository root (``env``: :func:`child_env` by default).

    Returns the ``CompletedProcess`` (text output); where ``check``, a
    non-zero exit fails the test with the output's ends.
    """
    argv = [str(a) for a in argv]
    process = subprocess.run([sys.executable, "train.py", *argv], cwd=REPO, env=env or child_env(),
                             capture_output=True, text=True, timeout=timeout)
    if check:
        assert_succeeded(process, f"train.py {' '.join(argv)}")
    return process


def kill_after_first_checkpoint(command, run_dir, env=None, cwd=REPO, timeout=300,
                                sig=signal.SIGKILL):
    """Run ``command`` in its own process group; signal the group once a checkpoint exists.

    Waits until every process of the group is gone (a killed ``train.py``
    releases its run folder's lock only when it has exited), and returns the
    epoch the run resumes from: the newest complete ``model.pth.tar-N`` in
    ``run_dir/prompt_learner`` (the ``checkpoint`` pointer may still name the
    previous one when the kill fell between the two writes). Fails the test
    when the command ends without a checkpoint or saves none within
    ``timeout`` seconds.
    """
    folder = osp.join(run_dir, "prompt_learner")
    process = subprocess.Popen(
        command, cwd=cwd, env=env or child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + timeout
        while not saved_epochs(folder):
            if process.poll() is not None:  # it may have saved one just before it ended
                assert saved_epochs(folder), "training exited before its first checkpoint"
                break
            assert time.time() < deadline, f"no checkpoint after {timeout} s"
            time.sleep(0.01)
    finally:
        if sig != signal.SIGKILL and process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(process)
    return saved_epochs(folder)[-1]


def _kill_group(process):
    """SIGKILL ``process``'s group and every process below it (torchrun starts its workers in
    sessions of their own), and wait until none of them is left."""
    below = descendants(process.pid)  # before the kill, which orphans them
    signal_tree(process.pid, signal.SIGKILL)
    signal_group(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.time() + 60
    while group_members(process.pid) or any(is_alive(pid) for pid in below):
        assert time.time() < deadline, f"group {process.pid} still alive 60 s after SIGKILL"
        time.sleep(0.01)


def wait_for_checkpoint(process, run_dir, timeout=300):
    """Wait until ``run_dir`` holds its first complete checkpoint while ``process`` runs."""
    deadline = time.time() + timeout
    while not saved_epochs(osp.join(run_dir, "prompt_learner")):
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the process ended before the first checkpoint:\n{output}")
        assert time.time() < deadline, f"no checkpoint in {run_dir} after {timeout} s"
        time.sleep(0.02)


def modules_loaded_by(statement, modules):
    """The sorted names in ``modules`` that ``python -c STATEMENT`` has in ``sys.modules`` at its end."""
    code = f"{statement}\nimport sys\nprint(sorted(m for m in {tuple(modules)!r} if m in sys.modules))"
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=child_env(),
                             capture_output=True, text=True)
    assert_succeeded(process, f"python -c {statement!r}")
    return ast.literal_eval(process.stdout.strip().splitlines()[-1])
