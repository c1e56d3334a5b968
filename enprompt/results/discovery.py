"""Which runs an output folder holds, which it should hold, and their results.

The folders are those of :mod:`enprompt.protocols`. A table's cells are
experiment folders (each holding ``seed<S>`` run folders), found by matching
the output root's sub-folders against a step's folder template, one path
component after the other. Every cell of a table is expected to have every
seed of the table (:meth:`Experiments.expected_seeds`); a cell of an
incomplete protocol (a base-to-novel dataset trained but never tested) is
added as the folder it would have, so that its runs are reported missing.
"""
import os
import os.path as osp
from collections import defaultdict

from enprompt.logparse import describe_missing, find_result
from enprompt.protocols import (
    BASE2NEW_TEST,
    BASE2NEW_TRAIN,
    FEW_SHOT,
    SEED_FOLDER,
    XD_SOURCE,
    XD_TEST,
    XD_TRAIN,
    dataset_order,
    seed_regex,
)

from .stats import Stat

__all__ = [
    "subdirs",
    "seed_dirs",
    "find_experiments",
    "Experiments",
    "BASE2NEW_PHASES",
    "base2new_experiments",
    "xd_experiments",
    "few_shot_experiments",
]

_SEED = seed_regex()

# (phase, step): the Base column comes from the training runs, New from the tests.
BASE2NEW_PHASES = (("base", BASE2NEW_TRAIN), ("new", BASE2NEW_TEST))


def subdirs(path):
    """Names of the non-hidden sub-folders of ``path``, sorted ([] if it is no folder)."""
    if not osp.isdir(path):
        return []
    return sorted(
        name for name in os.listdir(path)
        if not name.startswith(".") and osp.isdir(osp.join(path, name))
    )


def seed_dirs(folder):
    """``{seed: run folder}`` for the ``seed<S>`` folders of an experiment folder."""
    seeds = {}
    for name in subdirs(folder):
        match = _SEED.fullmatch(name)
        if match:
            seeds[int(match.group("seed"))] = osp.join(folder, name)
    return seeds


def find_experiments(root, step, **fixed):
    """Every experiment folder of ``step`` under ``root``, with its folder fields.

    Args:
        root (str): the output root.
        step (enprompt.protocols.Step): whose folder template to match.
        **fixed: fields that must have this value, e.g. ``dataset="imagenet"``.

    Returns:
        list[tuple[dict, str]]: ``(fields, folder)`` in sorted order; the
        fields are ``dataset``, ``trainer``, ``cfg`` and ``shots`` (an int),
        those of ``fixed`` included.
    """
    found = [(dict(fixed), root)]
    for regex in step.pattern(**fixed):  # one path component after the other
        deeper = []
        for fields, folder in found:
            for name in subdirs(folder):
                match = regex.fullmatch(name)
                if match:
                    deeper.append(({**fields, **match.groupdict()}, osp.join(folder, name)))
        found = deeper
    for fields, _ in found:
        if "shots" in fields:
            fields["shots"] = int(fields["shots"])
    return found


class Experiments:
    """The experiment folders of one table, one per cell, and their results.

    A key names a cell, e.g. ``("dtd", "base")``; its folder holds the
    ``seed<S>`` run folders (or does not exist yet).

    Args:
        seeds (list[int] or None): the seeds every cell is expected to have;
            None: every seed that some cell has.
    """

    def __init__(self, seeds=None):
        self.folders = {}
        self.seed_dirs = {}
        self.test_log = {}
        self.forced_seeds = seeds

    def add(self, key, folder, test_log):
        """Add cell ``key``: experiment folder ``folder`` of ``--eval-only`` runs or not."""
        self.folders[key] = folder
        self.seed_dirs[key] = seed_dirs(folder)
        self.test_log[key] = test_log

    def expected_seeds(self):
        if self.forced_seeds:
            return sorted(self.forced_seeds)
        return sorted({seed for dirs in self.seed_dirs.values() for seed in dirs})

    def read(self, keyword, ci95):
        """``({key: Stat or None}, number of expected seeds, missing runs)``.

        The missing runs are ``(run folder, reason)`` for every expected run
        without a finished result.
        """
        seeds = self.expected_seeds()
        stats, missing = {}, []
        for key, folder in self.folders.items():
            test_log = self.test_log[key]
            values = []
            for seed in seeds:
                default = osp.join(folder, SEED_FOLDER.format(seed=seed))
                run_dir = self.seed_dirs[key].get(seed, default)
                result = find_result(run_dir, keyword, test_log)
                if result is None:
                    missing.append((run_dir, describe_missing(run_dir, test_log)))
                else:
                    values.append(result.value)
            stats[key] = Stat.of(values, ci95)
        return stats, len(seeds), missing


def base2new_experiments(root, seeds=None):
    """``{(trainer, cfg, shots): Experiments}`` keyed ``(dataset, phase)``.

    Each dataset gets both phases: the folder of a phase never run is expected.
    """
    groups = defaultdict(lambda: Experiments(seeds))
    for phase, step in BASE2NEW_PHASES:
        for fields, folder in find_experiments(root, step):
            key = (fields["trainer"], fields["cfg"], fields["shots"])
            groups[key].add((fields["dataset"], phase), folder, step.eval_only)
    for (trainer, cfg, shots), experiments in groups.items():
        datasets = {dataset for dataset, _ in experiments.folders}
        for dataset, (phase, step) in _product(datasets, BASE2NEW_PHASES):
            if (dataset, phase) not in experiments.folders:
                folder = step.experiment_dir(root, dataset, shots, trainer, cfg)
                experiments.add((dataset, phase), folder, step.eval_only)
    return dict(groups)


def xd_experiments(root, seeds=None):
    """``{(trainer, cfg, shots): Experiments}`` keyed by target, plus ``"source"``.

    The source (the ImageNet training) is expected for every evaluated model.
    """
    groups = defaultdict(lambda: Experiments(seeds))
    for fields, folder in find_experiments(root, XD_TEST):
        key = (fields["trainer"], fields["cfg"], fields["shots"])
        groups[key].add(fields["dataset"], folder, XD_TEST.eval_only)
    for fields, folder in find_experiments(root, XD_TRAIN, dataset=XD_SOURCE):
        if seed_dirs(folder):
            key = (fields["trainer"], fields["cfg"], fields["shots"])
            groups[key].add("source", folder, XD_TRAIN.eval_only)
    for (trainer, cfg, shots), experiments in groups.items():
        if "source" not in experiments.folders:
            folder = XD_TRAIN.experiment_dir(root, XD_SOURCE, shots, trainer, cfg)
            experiments.add("source", folder, XD_TRAIN.eval_only)
    return dict(groups)


def few_shot_experiments(root, seeds=None):
    """``{(trainer, cfg): Experiments}`` keyed ``(dataset, shots)``.

    Every dataset is expected at every shot count of its table.
    """
    groups = defaultdict(lambda: Experiments(seeds))
    for fields, folder in find_experiments(root, FEW_SHOT):
        key = (fields["trainer"], fields["cfg"])
        groups[key].add((fields["dataset"], fields["shots"]), folder, FEW_SHOT.eval_only)
    for (trainer, cfg), experiments in groups.items():
        datasets = {dataset for dataset, _ in experiments.folders}
        all_shots = sorted({shots for _, shots in experiments.folders})
        for dataset, shots in _product(datasets, all_shots):
            if (dataset, shots) not in experiments.folders:
                folder = FEW_SHOT.experiment_dir(root, dataset, shots, trainer, cfg)
                experiments.add((dataset, shots), folder, FEW_SHOT.eval_only)
    return dict(groups)


def _product(datasets, others):
    # Datasets in the papers' order, so that missing runs are listed in it.
    return [(dataset, other) for dataset in dataset_order(datasets) for other in others]
