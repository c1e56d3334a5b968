"""Tee ``stdout`` into the run's log file (``dassl.utils.logger``)."""
import os
import os.path as osp
import sys
import time

from enprompt import distributed

from .tools import mkdir_if_missing

__all__ = ["Logger", "setup_logger", "log_file_path"]


class Logger:
    """Write everything printed to the console to a file as well."""

    def __init__(self, fpath=None):
        self.console = sys.stdout
        self.file = None
        if fpath is not None:
            mkdir_if_missing(osp.dirname(fpath))
            self.file = open(fpath, "w")

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None:
            self.file.write(msg)

    def flush(self):
        self.console.flush()
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())

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
