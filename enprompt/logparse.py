"""Read results from the log files of CoOp-family runs.

Every run folder that ``train.py`` writes now holds a ``manifest.json`` with
its result and state (:mod:`enprompt.run.manifest`), which is what
``parse_test_res.py`` and ``enprompt.results`` read first
(:mod:`enprompt.results.runs`). The logs are what remains of folders written
before manifests existed, and of runs of other CoOp-family code; this module
holds the rules for reading them, in one place:

* A run folder (``.../seed1``) holds ``log.txt`` and, for every rerun, a
  ``log.txt-YYYY-MM-DD-HH-MM-SS`` (Dassl's ``setup_logger`` never
  overwrites a log). :func:`list_logs` orders them oldest first.
* A log holds a *finished* result when a line equal to an end signal is
  followed by the metric line of Dassl's ``=> result`` block
  (``* accuracy: 81.0%``). The end signal of a training log is
  ``Finish training`` (Dassl >= 0.6.1) or ``Finished training`` (older Dassl,
  still expected by MaPLe's and PromptSRC's parsers); the test on the test
  split follows it. The end signal of an ``--eval-only`` log is ``=> result``.
  As in CoOp's ``parse_test_res.py``, the last metric line after the signal
  wins.
* :func:`find_result` returns the result of the newest log that holds one,
  so a run that was interrupted and then resumed (its result is in a
  timestamped rerun log) or evaluated again is read correctly.

Command line (a quick look at one run folder's logs)::

    python -m enprompt.logparse RUN_DIR [--test-log] [--keyword accuracy]

prints the result and the log it came from and exits 0, or says why there is
no result and exits 1.
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import namedtuple

__all__ = [
    "LOG_NAME",
    "TRAIN_END_SIGNALS",
    "TEST_END_SIGNALS",
    "end_signals",
    "metric_regex",
    "parse_log",
    "list_logs",
    "LogResult",
    "find_result",
    "describe_missing",
    "main",
]

# The first log of a run; reruns add "-<timestamp>" to this name.
LOG_NAME = "log.txt"

# "Finish training" since Dassl 0.6.1 (2022-06); "Finished training" before.
TRAIN_END_SIGNALS = ("Finish training", "Finished training")
# First line of the block Dassl's Classification evaluator prints.
TEST_END_SIGNALS = ("=> result",)

# log.txt-2024-05-01-12-30-59, with "-2", "-3", ... for reruns started within
# the same second (enprompt.engine.logger.log_file_path).
_RERUN_LOG = re.compile(r"^log\.txt-(\d{4}(?:-\d{2}){5})(?:-(\d+))?$")


def end_signals(test_log=False):
    """The lines after which a log's metric lines count (see the module docstring)."""
    return TEST_END_SIGNALS if test_log else TRAIN_END_SIGNALS


def metric_regex(keyword="accuracy"):
    """Regex of the ``* <keyword>: <number>%`` line; group 1 is the number."""
    return re.compile(r"\* " + re.escape(keyword) + r": ([\.\deE+-]+)%")


def parse_log(path, keyword="accuracy", test_log=False):
    """The finished result in one log file, or ``None``.

    Args:
        path (str): a log file.
        keyword (str): metric name of the ``=> result`` block (``accuracy``,
            ``error``, ``macro_f1``).
        test_log (bool): the log is an ``--eval-only`` log (end signal
            ``=> result``) rather than a training log (``Finish training``).

    Returns:
        float or None: the last ``keyword`` value after the first end signal.
    """
    signals = end_signals(test_log)
    regex = metric_regex(keyword)
    after_signal = False
    value = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line in signals:
                after_signal = True
                continue
            if after_signal:
                match = regex.search(line)
                if match:
                    try:
                        value = float(match.group(1))
                    except ValueError:  # e.g. "* accuracy: -%" from a broken run
                        continue
    return value


def _log_order(name):
    # log.txt is the first run; reruns sort by their timestamp, then counter.
    if name == LOG_NAME:
        return ("", 0)
    match = _RERUN_LOG.match(name)
    return (match.group(1), int(match.group(2) or 1))


def list_logs(run_dir):
    """Paths of the logs in ``run_dir`` (``log.txt``, ``log.txt-<timestamp>``), oldest first.

    Returns an empty list if ``run_dir`` does not exist.
    """
    if not osp.isdir(run_dir):
        return []
    names = [
        name for name in os.listdir(run_dir)
        if (name == LOG_NAME or _RERUN_LOG.match(name)) and osp.isfile(osp.join(run_dir, name))
    ]
    return [osp.join(run_dir, name) for name in sorted(names, key=_log_order)]


# value: the metric (float); log: the file it was read from.
LogResult = namedtuple("LogResult", ["value", "log"])


def find_result(run_dir, keyword="accuracy", test_log=False):
    """The result of the newest log in ``run_dir`` that holds a finished result.

    Args:
        run_dir (str): a run folder (``.../seed1``).
        keyword (str): metric name, see :func:`parse_log`.
        test_log (bool): see :func:`parse_log`.

    Returns:
        LogResult or None.
    """
    for path in reversed(list_logs(run_dir)):
        value = parse_log(path, keyword, test_log)
        if value is not None:
            return LogResult(value, path)
    return None


def describe_missing(run_dir, test_log=False):
    """Why ``run_dir`` has no finished result, in a few words (for reports)."""
    if not osp.isdir(run_dir):
        return "folder missing (never run)"
    logs = list_logs(run_dir)
    if not logs:
        return "no log.txt (never started)"
    if not test_log and find_result(run_dir, test_log=True) is not None:
        return ("its log holds the result of an --eval-only run ('=> result' without "
                "'Finish training'): read it with --test-log")
    what = "the '=> result' block" if test_log else "'Finish training' + '=> result'"
    return f"{len(logs)} log(s) without {what} (interrupted or failed; rerun the script)"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.logparse",
        description="Print the finished result of one run folder; exit 1 if there is none.",
    )
    parser.add_argument("run_dir", help="a run folder, e.g. output/.../seed1")
    parser.add_argument(
        "--test-log", action="store_true",
        help="the run is an --eval-only run (end signal '=> result' instead of 'Finish training')",
    )
    parser.add_argument("--keyword", default="accuracy", help="metric to read (default: accuracy)")
    parser.add_argument("--quiet", action="store_true", help="print nothing, only set the exit status")
    args = parser.parse_args(argv)

    result = find_result(args.run_dir, args.keyword, args.test_log)
    if result is None:
        if not args.quiet:
            print(f"{args.run_dir}: {describe_missing(args.run_dir, args.test_log)}")
        return 1
    if not args.quiet:
        print(f"{args.keyword}: {result.value:.2f}% (log: {result.log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
