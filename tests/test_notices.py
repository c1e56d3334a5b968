"""Notices (enprompt/notices.py): on the console and in the run's log, whatever the warnings filter.

Through ``train.py`` on each engine: the ``warnings-ignored`` case of the fault suite, and
``test_reliability.py::test_unreadable_image_is_named_or_skipped_with_a_count``.
"""
import contextlib
import io
import warnings

import pytest

from enprompt.data import BadImageWarning, FewShotWarning
from enprompt.notices import Notice, notice, warnings_in_log


class _Log:
    """What ``setup_logger`` puts in ``sys.stdout``: a console and the log ``file``."""

    def __init__(self):
        self.console, self.file = io.StringIO(), io.StringIO()

    def write(self, text):
        self.console.write(text)
        self.file.write(text)

    def flush(self):
        pass


@contextlib.contextmanager
def _run_log():
    """A run's log as ``sys.stdout`` (in the test's body: pytest's capture sets ``sys.stdout``
    again between a fixture's setup and the test)."""
    log = _Log()
    with contextlib.redirect_stdout(log):
        yield log


def test_a_notice_reaches_the_console_and_the_log_under_an_ignore_filter(capsys):
    with _run_log() as run_log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        notice("Skipped 2 unreadable image(s)", BadImageWarning)
    assert capsys.readouterr().err == "Warning: Skipped 2 unreadable image(s)\n"
    assert run_log.file.getvalue() == "Warning: Skipped 2 unreadable image(s)\n"


def test_a_notice_is_still_a_warning_for_programs_that_catch_it():
    assert issubclass(FewShotWarning, Notice) and issubclass(BadImageWarning, UserWarning)
    with _run_log(), pytest.warns(FewShotWarning, match="fewer than 16"):
        notice("3 class(es) have fewer than 16 images", FewShotWarning)


def test_in_a_run_other_warnings_reach_the_log_and_notices_are_shown_once():
    console = io.StringIO()
    with _run_log() as run_log, contextlib.redirect_stderr(console), warnings_in_log():
        warnings.simplefilter("always", UserWarning)
        warnings.warn("a library's own warning", UserWarning)
        notice("a notice", Notice)
    log, err = run_log.file.getvalue(), console.getvalue()  # (pytest records the other warning)
    assert "UserWarning: a library's own warning" in log, log
    assert err.count("a notice") == 1 and log.count("a notice") == 1
