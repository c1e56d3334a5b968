"""Running the scripts of scripts/enprompt/ in tests, with or without train.py.

``run_script`` runs a script the way a user does (``bash <script> ARGS``).
``FakePython`` stands in for the interpreter (the scripts' ``$PYTHON``) when
a test is about what the scripts run, not about training: it records every
call, answers ``-m enprompt.logparse`` with "no result" (exit 1), runs
``-m enprompt.protocols`` with the real interpreter, and for ``train.py``
saves an empty last-epoch checkpoint in its ``--output-dir``, so that an
evaluation script finds a "trained" model there. No torch is loaded.

``SCRIPTS`` is the scripts' folder, ``SCRIPT_NAMES`` the scripts a user runs
(every ``*.sh`` there but ``common.sh``), ``script_env(**extra)`` the
environment of a script run, ``FakeBash`` a stand-in ``bash`` that records
which step scripts a reproduce script runs, ``TrainPyCall`` the parsed
arguments of one recorded ``train.py`` call. ``ScriptRuns`` runs the real
scripts on a fake DTD (4 classes, 6 images each, one colour per class) with
the tiny CLIP, in a work folder of its own.
"""
import os
import os.path as osp
import subprocess
import sys

from tests.child_process import assert_succeeded, child_env
from tests.paths import REPO

SCRIPTS = osp.join(REPO, "scripts", "enprompt")
SCRIPT_NAMES = sorted(name for name in os.listdir(SCRIPTS)
                      if name.endswith(".sh") and name != "common.sh")

# POSIX sh, so that it starts fast; one line per call, arguments ended by \037.
_FAKE_PYTHON = r"""#!/bin/sh
printf '%s\037' "$@" >> "$FAKE_PYTHON_LOG"
printf '\n' >> "$FAKE_PYTHON_LOG"
case "$1 $2" in
    "-m enprompt.logparse")  # as the real one on a run without a result
        case " $* " in *" --quiet "*) ;; *) echo "no result" ;; esac
        exit 1 ;;
    "-m enprompt.protocols") exec "$REAL_PYTHON" "$@" ;;
    "-m enprompt.results") exit 0 ;;
esac
[ "$1" = train.py ] || exit 3
while [ $# -gt 0 ]; do
    [ "$1" = --output-dir ] && out=$2
    shift
done
mkdir -p "$out/prompt_learner"
echo model.pth.tar-3 > "$out/prompt_learner/checkpoint"
: > "$out/prompt_learner/model.pth.tar-3"
"""

# Stands in for bash inside a reproduce script: records which step scripts it runs.
_FAKE_BASH = r"""#!/bin/sh
printf '%s\037' "$@" >> "$FAKE_BASH_LOG"
printf '\n' >> "$FAKE_BASH_LOG"
"""


def script_env(**extra):
    """The environment of a script run: no DATA/OUTPUT/CFG unless given, this interpreter.

    As every child process of the tests (:func:`tests.child_process.child_env`), one thread.
    """
    env = {k: v for k, v in child_env().items() if k not in ("DATA", "OUTPUT", "CFG")}
    env["PYTHON"] = sys.executable
    env.update(extra)
    return env


def run_script(name, *args, cwd, env, check=True, shell="bash"):
    """``<shell> scripts/enprompt/<name> ARGS`` from ``cwd``; raises if it fails and ``check``."""
    process = subprocess.run(
        [shell, osp.join(SCRIPTS, name), *[str(a) for a in args]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )
    if check:
        assert_succeeded(process, f"{name} {args}")
    return process


class ScriptRuns:
    """The real scripts on a fake DTD with the tiny CLIP, in ``workdir``.

    Attributes:
        data, output (str): ``workdir/data`` (the fake DTD) and ``workdir/output``.
        opts (list[str]): the options every script gets (no loader workers,
            the tiny CLIP, fp32).
        env (dict): ``DATA``, ``OUTPUT``; ``ENPROMPT_ENGINE=builtin`` when
            ``engine`` is ``"builtin"`` (else the real Dassl where installed).
    """

    def __init__(self, workdir, clip_path, engine="builtin"):
        from tests.fake_data import make_dtd

        self.workdir = workdir
        self.data = osp.join(workdir, "data")
        self.output = osp.join(workdir, "output")
        make_dtd(self.data, n_classes=4, n_per_class=6, class_dependent=True)
        self.opts = ["DATALOADER.NUM_WORKERS", "0", "TRAINER.ENPROMPT.CLIP_WEIGHTS", clip_path,
                     "TRAINER.ENPROMPT.PREC", "fp32"]
        self.env = script_env(DATA=self.data, OUTPUT=self.output)
        self.env.pop("ENPROMPT_ENGINE", None)
        if engine == "builtin":
            self.env["ENPROMPT_ENGINE"] = "builtin"

    def script(self, name, *args, env=None, check=False):
        """``bash scripts/enprompt/<name> ARGS <opts>`` from ``workdir``, ``env`` added."""
        return run_script(name, *args, *self.opts, cwd=self.workdir,
                          env=dict(self.env, **(env or {})), check=check)


def _write_executable(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def _read_calls(log):
    if not osp.isfile(log):
        return []
    with open(log) as f:
        return [line.rstrip("\n").split("\x1f")[:-1] for line in f]


class FakePython:
    """A stand-in ``$PYTHON`` in folder ``tmp`` (see the module docstring)."""

    def __init__(self, tmp):
        self.path = _write_executable(osp.join(tmp, "fake_python"), _FAKE_PYTHON)
        self.log = osp.join(tmp, "python_calls")

    def env(self, **extra):
        return script_env(PYTHON=self.path, FAKE_PYTHON_LOG=self.log,
                          REAL_PYTHON=sys.executable, **extra)

    def calls(self):
        """Every call so far, as argument lists."""
        return _read_calls(self.log)

    def train_py_calls(self):
        """The ``train.py`` calls so far, as :class:`TrainPyCall`."""
        return [TrainPyCall(args[1:]) for args in self.calls() if args[:1] == ["train.py"]]


class FakeBash:
    """A stand-in ``bash`` on the PATH of a reproduce script (see ``_FAKE_BASH``)."""

    def __init__(self, tmp):
        folder = osp.join(tmp, "fake_bin")
        os.makedirs(folder, exist_ok=True)
        _write_executable(osp.join(folder, "bash"), _FAKE_BASH)
        self.folder = folder
        self.log = osp.join(tmp, "bash_calls")

    def env(self, env):
        return dict(env, PATH=f"{self.folder}{os.pathsep}{env['PATH']}", FAKE_BASH_LOG=self.log)

    def calls(self):
        """``[(script name, args...)]`` of the scripts run so far."""
        return [(osp.basename(args[0]), *args[1:]) for args in _read_calls(self.log)]


class TrainPyCall:
    """The arguments of one ``train.py`` call: flags and the trailing KEY VALUE options."""

    def __init__(self, args):
        self.args = args
        self.flags, self.opts = {}, {}
        i = 0
        while i < len(args):
            if args[i] == "--eval-only":
                self.flags["--eval-only"] = True
                i += 1
            elif args[i].startswith("--"):
                self.flags[args[i]] = args[i + 1]
                i += 2
            else:
                self.opts[args[i]] = args[i + 1]
                i += 2
