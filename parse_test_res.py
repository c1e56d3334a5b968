"""Summarise the results of the seed folders of one experiment (CoOp's parser).

Same command line and output as ``parse_test_res.py`` of CoOp, CoCoOp, MaPLe
and PromptSRC::

    # mean and std over output/.../seed1, seed2, seed3 (training logs)
    python parse_test_res.py output/base2new/train_base/dtd/shots_16/EnPrompt/vit_b16_c4_ep5_batch4_base2new

    # --eval-only runs (base-to-novel "new", cross-dataset, domain generalisation);
    # --test-log is only needed for run folders written before manifests existed
    python parse_test_res.py output/base2new/test_new/dtd/shots_16/EnPrompt/vit_b16_c4_ep5_batch4_base2new --test-log

    # a folder of experiments, each holding seed folders: one summary each,
    # then the average of their means
    python parse_test_res.py output/evaluation/EnPrompt/vit_b16_c4_ep2_batch4_cross_datasets_16shots --test-log --multi-exp

Differences from CoOp's parser, all backwards-compatible (what CoOp prints
is printed the same way; anything more goes to stderr):

* a run folder's result, state and kind come from its ``manifest.json``
  (``train.py`` writes one in every run folder), so ``--test-log`` is only
  needed for folders written before manifests existed. The ``file:`` line
  then names the manifest, and the value is the manifest's, to full
  precision (the log prints it to one decimal);
* a run folder without a finished result is named on stderr, with the
  reason, instead of stopping the whole summary with an assertion: failed
  (the error's first line), interrupted (the notice), still running, a
  partial result (an evaluation of an unfinished model, ``--load-epoch``),
  or no log; a folder of ``--eval-only`` logs read without ``--test-log``
  says so for each folder;
* results that must not be averaged are refused, with the reason on
  stderr: an evaluation of another checkpoint than the final one of the
  model it names (the model was trained again since), a run in the folder
  of another seed, and seed folders that are different experiments (their
  manifests' configs differ in more than the seed: no summary is printed);
* for folders without manifest: both end signals of training logs are
  understood, ``Finish training`` (Dassl >= 0.6.1) and ``Finished training``
  (older Dassl, the one MaPLe's and PromptSRC's parsers look for), and the
  result is read from the newest log that holds one (``log.txt`` or a
  ``log.txt-<timestamp>`` rerun log), not only from ``log.txt``: a resumed
  run's result is in its rerun log.

std is ``numpy.std`` (population, ddof=0) as in CoOp; ``--ci95`` reports the
95% confidence interval 1.96 * std / sqrt(n) instead. For the paper tables of
all protocols at once see ``python -m enprompt.results``.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np

from enprompt.protocols import seed_regex
from enprompt.results.checks import misplaced, mixed_experiments, stale_evaluation
from enprompt.results.discovery import subdirs
from enprompt.results.runs import read_run
from enprompt.results.stats import Stat

_SEED = seed_regex()


def subfolders(directory):
    """Non-hidden sub-folders of ``directory``, sorted by name."""
    return [osp.join(directory, name) for name in subdirs(directory)]


def _folder_seed(run_dir):
    match = _SEED.fullmatch(osp.basename(run_dir))
    return int(match.group("seed")) if match else None


def _check(run, keyword):
    """Keep a finished result out when it is in another seed's folder, or when it
    evaluated another checkpoint than the final one of the model it names."""
    reason = misplaced(run, eval_only=run.kind == "eval")
    if not reason and run.kind == "eval":
        model_dir = run.evaluated.get("model_dir")
        if model_dir and osp.isdir(model_dir):
            reason = stale_evaluation(run, read_run(model_dir, keyword), "rerun the command "
                                      "that wrote it (its test script, or the \"command\" of "
                                      "its manifest.json)")
    if reason:
        run.reject("mixed", reason)


def parse_function(directory, keyword="accuracy", test_log=False, ci95=False, unchecked=None):
    """Print one line per run folder of ``directory`` and their summary.

    Args:
        unchecked (list or None): run folders read from their logs (no
            manifest) are appended to it; None: say so here, once.

    Returns:
        OrderedDict: ``{keyword: mean}``, or an empty dict when no run folder
        holds a finished result or their results must not be averaged (the
        reason is printed to stderr).
    """
    print(f"Parsing files in {directory}")
    runs = [read_run(run_dir, keyword, test_log, seed=_folder_seed(run_dir))
            for run_dir in subfolders(directory)]
    for run in runs:
        if run.ok:
            _check(run, keyword)
    values = []
    for run in runs:
        if run.ok:
            values.append(run.value)
            print(f"file: {run.file}. {keyword}: {run.value:.2f}%. ")
        else:
            print(f"Not counted: {run.run_dir}: {run.reason}", file=sys.stderr)
    legacy = [run.run_dir for run in runs if run.source == "log"]
    if unchecked is None:
        _say_unchecked(legacy)
    else:
        unchecked.extend(legacy)

    if not values:
        print(f"Nothing found in {directory}", file=sys.stderr)
        return OrderedDict()
    mixed = mixed_experiments([run for run in runs if run.ok])
    if mixed:
        print(f"Not averaged: {directory}: {mixed}", file=sys.stderr)
        return OrderedDict()

    stat = Stat.of(values, ci95)
    print("===")
    print(f"Summary of directory: {directory}")
    print(f"* {keyword}: {stat.mean:.2f}% +- {stat.spread:.2f}%")
    print("===")
    return OrderedDict([(keyword, stat.mean)])


def _say_unchecked(run_dirs):
    if run_dirs:
        print(f"Note: {len(run_dirs)} run folder(s) have no manifest.json (written before run "
              "manifests existed): read from their logs (add --test-log for --eval-only "
              "logs); their configs, states and checkpoints cannot be checked.",
              file=sys.stderr)


def main(args):
    if not osp.isdir(args.directory):
        print(f"Error: {args.directory} is not a directory", file=sys.stderr)
        return 2

    if not args.multi_exp:
        results = parse_function(args.directory, args.keyword, args.test_log, args.ci95)
        return 0 if results else 1

    means, unchecked = [], []
    for experiment in subfolders(args.directory):
        results = parse_function(experiment, args.keyword, args.test_log, args.ci95, unchecked)
        if results:
            means.append(results[args.keyword])
    _say_unchecked(unchecked)
    if not means:
        print(f"Nothing found in any experiment folder of {args.directory}", file=sys.stderr)
        return 1
    print("Average performance")
    print(f"* {args.keyword}: {np.mean(means):.2f}%")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=str, help="path to directory")
    parser.add_argument("--ci95", action="store_true", help="compute 95%% confidence interval")
    parser.add_argument(
        "--test-log", action="store_true",
        help="parse test-only logs (only needed for run folders without manifest.json)",
    )
    parser.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    parser.add_argument(
        "--keyword", default="accuracy", type=str, help="which keyword to extract"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
