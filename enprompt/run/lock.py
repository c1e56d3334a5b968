"""One process per run folder, by an OS file lock.

The lock is ``flock`` on ``<run>/.lock``: the kernel releases it when the
process ends, however it ends, so a crashed or killed run never leaves a
stale lock behind. The file itself stays (it is tiny) and says who holds it:
pid, host, start time and command line, so that the second process can name
the first one.
"""
import json
import os
import os.path as osp
import socket
import sys

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from enprompt.errors import UserError

from .manifest import utc_now

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunFolderLock"]

LOCK_NAME = ".lock"


class RunFolderBusy(UserError, RuntimeError):
    """Another process holds the run folder."""


def _describe_holder(path):
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict) or "pid" not in holder:
        return "another process"
    command = " ".join(holder.get("command") or [])
    return (f"process {holder['pid']} on {holder.get('host', '?')} (started "
            f"{holder.get('started', '?')}: {command})")


class RunFolderLock:
    """Hold ``<run_dir>/.lock`` exclusively while the run works in the folder.

    Example::

        with RunFolderLock(run_dir):
            ...  # nothing else writes in run_dir meanwhile

    Raises:
        RunFolderBusy: on entry, when another process holds the folder. The
            message names it, and nothing in the folder has been touched.
    """

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = osp.join(run_dir, LOCK_NAME)
        self._fd = None

    def acquire(self):
        os.makedirs(self.run_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunFolderBusy(
                    f"{self.run_dir} is in use by {_describe_holder(self.path)}. Only one "
                    "run may work in a run folder at a time; nothing was changed. Wait for "
                    "that run to end (or stop it), or use another output folder."
                ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": utc_now(),
            "command": list(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode("utf-8"))
        self._fd = fd
        return self

    def holder(self):
        """Who holds the folder now (a sentence, as in :class:`RunFolderBusy`), or None
        when no process does. Reads only; creates and changes nothing."""
        if fcntl is None or not osp.isfile(self.path):
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _describe_holder(self.path)
        finally:
            os.close(fd)  # also releases the lock when this call got it
        return None

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, exc_type, exc, tb):
        self.release()
        return False
