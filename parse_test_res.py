"""Summarise the results of the seed folders of one experiment (CoOp's parser).

Same command line and output as ``parse_test_res.py`` of CoOp, CoCoOp, MaPLe
and PromptSRC::

    # mean and std over output/.../seed1, seed2, seed3 (training logs)
    python parse_test_res.py output/base2new/train_base/dtd/shots_16/EnPrompt/vit_b16_c4_ep5_batch4_base2new

    # --eval-only logs (base-to-novel "new", cross-dataset, domain generalisation)
    python parse_test_res.py output/base2new/test_new/dtd/shots_16/EnPrompt/vit_b16_c4_ep5_batch4_base2new --test-log

    # a folder of experiments, each holding seed folders: one summary each,
    # then the average of their means
    python parse_test_res.py output/evaluation/EnPrompt/vit_b16_c4_ep2_batch4_cross_datasets_16shots --test-log --multi-exp

Differences from CoOp's parser, all backwards-compatible:

* both end signals of training logs are understood: ``Finish training``
  (Dassl >= 0.6.1) and ``Finished training`` (older Dassl, the one MaPLe's and
  PromptSRC's parsers look for);
* a seed folder's result is read from its newest log that holds one
  (``log.txt`` or a ``log.txt-<timestamp>`` rerun log), not only from
  ``log.txt``: a resumed run's result is in its rerun log;
* a seed folder without a finished result is named on stderr instead of
  stopping the whole summary with an assertion.

std is ``numpy.std`` (population, ddof=0) as in CoOp; ``--ci95`` reports the
95% confidence interval 1.96 * std / sqrt(n) instead. For the paper tables of
all protocols at once see ``python -m enprompt.results``.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np

from enprompt.logparse import describe_missing, find_result
from enprompt.results.discovery import subdirs
from enprompt.results.stats import Stat


def subfolders(directory):
    """Non-hidden sub-folders of ``directory``, sorted by name."""
    return [osp.join(directory, name) for name in subdirs(directory)]


def parse_function(directory, keyword="accuracy", test_log=False, ci95=False):
    """Print one line per run folder of ``directory`` and their summary.

    Returns:
        OrderedDict: ``{keyword: mean}``, or an empty dict if no run folder
        holds a finished result ("Nothing found" is printed to stderr).
    """
    print(f"Parsing files in {directory}")
    values = []
    for run_dir in subfolders(directory):
        result = find_result(run_dir, keyword, test_log)
        if result is None:
            print(f"No result in {run_dir}: {describe_missing(run_dir, test_log)}", file=sys.stderr)
            continue
        values.append(result.value)
        print(f"file: {result.log}. {keyword}: {result.value:.2f}%. ")

    if not values:
        hint = "" if test_log else " (for --eval-only logs add --test-log)"
        print(f"Nothing found in {directory}{hint}", file=sys.stderr)
        return OrderedDict()

    stat = Stat.of(values, ci95)
    print("===")
    print(f"Summary of directory: {directory}")
    print(f"* {keyword}: {stat.mean:.2f}% +- {stat.spread:.2f}%")
    print("===")
    return OrderedDict([(keyword, stat.mean)])


def main(args):
    if not osp.isdir(args.directory):
        print(f"Error: {args.directory} is not a directory", file=sys.stderr)
        return 2

    if not args.multi_exp:
        results = parse_function(args.directory, args.keyword, args.test_log, args.ci95)
        return 0 if results else 1

    means = []
    for experiment in subfolders(args.directory):
        results = parse_function(experiment, args.keyword, args.test_log, args.ci95)
        if results:
            means.append(results[args.keyword])
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
    parser.add_argument("--test-log", action="store_true", help="parse test-only logs")
    parser.add_argument("--multi-exp", action="store_true", help="parse multiple experiments")
    parser.add_argument(
        "--keyword", default="accuracy", type=str, help="which keyword to extract"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
