"""Notices: what a run must tell its user, on the console and in the run's ``log.txt``.

A warning that data was skipped or that few-shot classes are short must not
depend on a warnings filter (``PYTHONWARNINGS=ignore``, ``python -W ignore``)
nor be lost from the log the user archives: ``warnings.warn`` writes to
stderr, which the run's log (stdout teed into ``log.txt``) never sees, and
prints nothing under an ``ignore`` filter. :func:`notice` therefore writes
``Warning: <message>`` to stderr and to the run's log itself, and then also
issues the warning (category :class:`Notice` or a subclass) for programs that
catch it (``pytest.warns``, ``warnings.catch_warnings(record=True)``).

:func:`warnings_in_log` (used by ``train.py`` around a run) writes every other
warning that is shown to the run's log as well, and hides the warnings of
notices, which were printed already.
"""
import contextlib
import sys
import warnings

__all__ = ["Notice", "notice", "run_log_file", "warnings_in_log"]


class Notice(UserWarning):
    """A notice of this project (always printed and logged, see :func:`notice`)."""


def run_log_file():
    """The open file of the run's log (``setup_logger`` tees stdout into it), or None."""
    log = getattr(sys.stdout, "file", None)
    if log is None or getattr(log, "closed", True):
        return None
    return log


def _to_log(text):
    log = run_log_file()
    if log is not None:
        try:
            log.write(text)
            log.flush()
        except (OSError, ValueError):  # the log's own disk is full: the console still has it
            pass


def notice(message, category=Notice, stacklevel=1):
    """Tell the user ``message``: ``Warning: <message>`` on stderr and in the run's log,
    whatever the warnings filters, then ``warnings.warn(message, category)``.

    Args:
        message (str): one line: what happened and what it means for the run.
        category (type): a subclass of :class:`Notice`.
        stacklevel (int): as for ``warnings.warn``, counted from the caller of ``notice``.
    """
    line = f"Warning: {message}\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    _to_log(line)
    warnings.warn(message, category, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def warnings_in_log():
    """Within the block, shown warnings go to stderr and to the run's log; notices are not
    repeated (they were printed by :func:`notice`)."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Notice):
            return  # printed by notice(), whatever the filters say ("always" included)
        original(message, category, filename, lineno, file, line)
        if file is None:  # the default destination, stderr: the log gets it too
            _to_log(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Notice)
        warnings.showwarning = show
        yield
