"""Which runs an output folder holds, which it should hold, and their results.

The folders are those of :mod:`enprompt.protocols`. A table's cells are
experiment folders (each holding ``seed<S>`` run folders), found by matching
the output root's sub-folders against a step's folder template, one path
component after the other. Every cell of a table is expected to have every
seed of the table (:meth:`Experiments.expected_seeds`); a cell of an
incomplete protocol (a base-to-novel dataset trained but never tested) is
added as the folder it would have, so that its runs are reported missing.

:meth:`Experiments.read` reads every expected run (its manifest, or its logs
for a folder written before manifests existed, :mod:`.runs`) and keeps out
of the cells the finished results that do not belong there (:mod:`.checks`):
an evaluation of another checkpoint than its model cell's final one, seeds
of one cell that are different experiments, a run in another run's folder.
"""
import os
import os.path as osp
from collections import defaultdict, namedtuple

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

from .checks import misplaced, mixed_experiments, stale_evaluation
from .runs import read_run
from .stats import Stat

__all__ = [
    "subdirs",
    "seed_dirs",
    "find_experiments",
    "Cell",
    "Readout",
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


class Cell:
    """One cell of a table: an experiment folder and the runs of its seeds.

    Attributes:
        key: the cell's key in its :class:`Experiments`, e.g. ``("dtd", "base")``.
        folder (str): the experiment folder (it may not exist yet).
        step (enprompt.protocols.Step): the protocol step that writes it.
        dataset (str): the dataset it reports.
        model (key or None): for an evaluation, the cell whose runs (of the
            same seed) are the models it evaluates.
        runs (dict): ``{seed: Run}`` once read.
    """

    def __init__(self, key, folder, step, dataset, model=None):
        self.key = key
        self.folder = folder
        self.step = step
        self.dataset = dataset
        self.model = model
        self.seed_dirs = seed_dirs(folder)
        self.runs = {}

    def run_dir(self, seed):
        return self.seed_dirs.get(seed, osp.join(self.folder, SEED_FOLDER.format(seed=seed)))

    def finished(self):
        """The runs whose results enter the cell."""
        return [run for run in self.runs.values() if run.ok]

    def rerun_hint(self, seed):
        return (f"rerun {self.step.script} {self.dataset} {seed} with the options of its "
                "training run")


# stats: {key: Stat or None}; n_seeds: seeds expected per cell; problems:
# [Problem] of the runs kept out of the cells; cells: {key: Cell}, their runs read.
Readout = namedtuple("Readout", ["stats", "n_seeds", "problems", "cells"])


class Experiments:
    """The experiment folders of one table, one per cell, and their results.

    A key names a cell, e.g. ``("dtd", "base")``; its folder holds the
    ``seed<S>`` run folders (or does not exist yet).

    Args:
        seeds (list[int] or None): the seeds every cell is expected to have;
            None: every seed that some cell has.
    """

    def __init__(self, seeds=None):
        self.cells = {}
        self.forced_seeds = seeds

    def add(self, key, folder, step, dataset, model=None):
        """Add cell ``key``: experiment folder ``folder`` of ``step`` (see :class:`Cell`)."""
        self.cells[key] = Cell(key, folder, step, dataset, model)

    def expected_seeds(self):
        if self.forced_seeds:
            return sorted(self.forced_seeds)
        return sorted({seed for cell in self.cells.values() for seed in cell.seed_dirs})

    def read(self, keyword, ci95):
        """Read every expected run, check that the results belong together.

        Every expected seed of every cell is read (:func:`~.runs.read_run`);
        a finished result is then kept out of its cell (state ``mixed``) when
        its run is in the wrong folder, when it evaluated another checkpoint
        than the final one of the model run of its model cell, or when the
        seeds of its cell are different experiments (:mod:`.checks`).

        Returns:
            Readout
        """
        seeds = self.expected_seeds()
        for cell in self.cells.values():
            cell.runs = {seed: read_run(cell.run_dir(seed), keyword, cell.step.eval_only, seed)
                         for seed in seeds}
            for run in cell.finished():
                reason = misplaced(run, cell.step.eval_only)
                if reason:
                    run.reject("mixed", reason)
        for cell in self.cells.values():
            model_cell = self.cells.get(cell.model) if cell.model is not None else None
            if model_cell is None:
                continue
            for seed, run in cell.runs.items():
                if run.ok:
                    reason = stale_evaluation(run, model_cell.runs[seed], cell.rerun_hint(seed))
                    if reason:
                        run.reject("mixed", reason)
        for cell in self.cells.values():
            reason = mixed_experiments(cell.finished())
            if reason:
                for run in cell.finished():
                    run.reject("mixed", reason)
        stats = {key: Stat.of([run.value for run in cell.finished()], ci95)
                 for key, cell in self.cells.items()}
        problems = [run.problem() for cell in self.cells.values()
                    for run in cell.runs.values() if not run.ok]
        return Readout(stats, len(seeds), problems, self.cells)


def base2new_experiments(root, seeds=None):
    """``{(trainer, cfg, shots): Experiments}`` keyed ``(dataset, phase)``.

    Each dataset gets both phases: the folder of a phase never run is expected.
    """
    groups = defaultdict(lambda: Experiments(seeds))

    def add(experiments, dataset, phase, step, folder):
        model = (dataset, "base") if phase == "new" else None
        experiments.add((dataset, phase), folder, step, dataset, model)

    for phase, step in BASE2NEW_PHASES:
        for fields, folder in find_experiments(root, step):
            key = (fields["trainer"], fields["cfg"], fields["shots"])
            add(groups[key], fields["dataset"], phase, step, folder)
    for (trainer, cfg, shots), experiments in groups.items():
        datasets = {dataset for dataset, _ in experiments.cells}
        for dataset, (phase, step) in _product(datasets, BASE2NEW_PHASES):
            if (dataset, phase) not in experiments.cells:
                folder = step.experiment_dir(root, dataset, shots, trainer, cfg)
                add(experiments, dataset, phase, step, folder)
    return dict(groups)


def xd_experiments(root, seeds=None):
    """``{(trainer, cfg, shots): Experiments}`` keyed by target, plus ``"source"``.

    The source (the ImageNet training) is expected for every evaluated model.
    """
    groups = defaultdict(lambda: Experiments(seeds))
    for fields, folder in find_experiments(root, XD_TEST):
        key = (fields["trainer"], fields["cfg"], fields["shots"])
        groups[key].add(fields["dataset"], folder, XD_TEST, fields["dataset"], model="source")
    for fields, folder in find_experiments(root, XD_TRAIN, dataset=XD_SOURCE):
        if seed_dirs(folder):
            key = (fields["trainer"], fields["cfg"], fields["shots"])
            groups[key].add("source", folder, XD_TRAIN, XD_SOURCE)
    for (trainer, cfg, shots), experiments in groups.items():
        if "source" not in experiments.cells:
            folder = XD_TRAIN.experiment_dir(root, XD_SOURCE, shots, trainer, cfg)
            experiments.add("source", folder, XD_TRAIN, XD_SOURCE)
    return dict(groups)


def few_shot_experiments(root, seeds=None):
    """``{(trainer, cfg): Experiments}`` keyed ``(dataset, shots)``.

    Every dataset is expected at every shot count of its table.
    """
    groups = defaultdict(lambda: Experiments(seeds))
    for fields, folder in find_experiments(root, FEW_SHOT):
        key = (fields["trainer"], fields["cfg"])
        groups[key].add((fields["dataset"], fields["shots"]), folder, FEW_SHOT, fields["dataset"])
    for (trainer, cfg), experiments in groups.items():
        datasets = {dataset for dataset, _ in experiments.cells}
        all_shots = sorted({shots for _, shots in experiments.cells})
        for dataset, shots in _product(datasets, all_shots):
            if (dataset, shots) not in experiments.cells:
                folder = FEW_SHOT.experiment_dir(root, dataset, shots, trainer, cfg)
                experiments.add((dataset, shots), folder, FEW_SHOT, dataset)
    return dict(groups)


def _product(datasets, others):
    # Datasets in the papers' order, so that missing runs are listed in it.
    return [(dataset, other) for dataset in dataset_order(datasets) for other in others]
