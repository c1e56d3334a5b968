"""Tee ``stdout`` into the run's log file (``dassl.utils.logger``), on both engines.

Differences from Dassl's: every log gets a file of its own (two reruns
started within one second included), the file is written line by line (a
killed run loses no buffered lines), and a log that cannot be written (a full
disk) stops the run with a :class:`LogWriteError` naming the file, after
which the console alone carries on.
"""
import errno
import os
import os.path as osp
import sys
import time

from enprompt import distributed
from enprompt.errors import UserError

from .tools import mkdir_if_missing

__all__ = ["Logger", "LogWriteError", "setup_logger", "log_file_path"]

_FULL = (errno.ENOSPC, errno.EDQUOT)


class LogWriteError(UserError, OSError):
    """The run's log cannot be written (e.g. no space left); the message names the file."""


def _log_write_error(path, error):
    folder = osp.dirname(osp.abspath(path))
    reason = error.strerror or str(error)
    if error.errno in _FULL:
        failure = LogWriteError(
            f'No space left on the device while writing the run\'s log "{path}" ({reason}). '
            "The checkpoints and the manifest written so far are intact. Free some space on "
            f"the device of {folder} (df -h {folder} shows it) and rerun the same command: "
            "training resumes from the last complete checkpoint."
        )
    else:
        failure = LogWriteError(
            f'Cannot write the run\'s log "{path}" ({reason}). The checkpoints written so far are '
            f"intact. Check that {folder} is writable and rerun the same command."
        )
    failure.errno = error.errno
    return failure


class Logger:
    """Write everything printed to the console to a file as well."""

    def __init__(self, fpath=None):
        self.console = sys.stdout
        self.file = None
        self.path = fpath
        if fpath is not None:
            mkdir_if_missing(osp.dirname(fpath))
            self.file = open(fpath, "w", buffering=1)  # line by line

    def _failed(self, error):
        """Stop writing the file (the console carries on) and raise LogWriteError."""
        broken, self.file = self.file, None
        try:
            broken.close()
        except OSError:
            pass  # its buffer cannot be written either
        raise _log_write_error(self.path, error) from None

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None:
            try:
                self.file.write(msg)
            except OSError as error:
                self._failed(error)

    def flush(self):
        self.console.flush()
        if self.file is not None:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
            except OSError as error:
                self._failed(error)

    def isatty(self):
        return False

    def fileno(self):
        return self.console.fileno()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


def log_file_path(output):
    """The file ``setup_logger(output)`` writes to.

    ``output`` is a folder (the log is ``<output>/log.txt``) or a path ending
    in ``.txt``/``.log``. An existing log is never overwritten: the new one
    gets the suffix ``-%Y-%m-%d-%H-%M-%S``, as in Dassl.
    """
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if osp.exists(fpath):
        stamped = fpath + time.strftime("-%Y-%m-%d-%H-%M-%S")
        fpath, n = stamped, 1
        while osp.exists(fpath):  # two reruns within one second
            n += 1
            fpath = f"{stamped}-{n}"
    return fpath


def setup_logger(output=None):
    """Redirect ``sys.stdout`` through a :class:`Logger` writing to the run's log.

    In a data-parallel run only rank 0 writes the log (the others write none).
    """
    if output is None or not distributed.is_main_process():
        return
    if isinstance(sys.stdout, Logger):
        sys.stdout.close()
        sys.stdout = sys.stdout.console
    sys.stdout = Logger(log_file_path(output))
