"""The paper's tables, built from the experiments that discovery finds.

One table per protocol and per (trainer, config):

* **base-to-novel**: Base, New and HM = 2·B·N / (B + N) per dataset. Each
  dataset's HM is computed from its mean Base and mean New over seeds, and
  the Average row holds the mean Base and mean New over datasets and the HM
  *of those two averages*, as the CoOp-family papers report it (not the mean
  of the per-dataset HMs);
* **cross-dataset**: the ImageNet source and each target; the average is
  over the targets (the source is not in it), as in the papers;
* **domain generalisation**: the source and ImageNet-V2/-Sketch/-A/-R,
  average over the four;
* **few-shot**: one column per shot count, average over datasets.

A table is a list of :class:`Column` and rows of cells, one cell per column;
the renderers (:mod:`enprompt.results.render`) turn the same cells into
markdown and CSV.
"""
import os.path as osp
from collections import namedtuple

import numpy as np

from enprompt.data.catalog import LAYOUTS
from enprompt.protocols import DG_TARGETS, XD_SOURCE, dataset_order

from .discovery import base2new_experiments, few_shot_experiments, xd_experiments
from .stats import harmonic_mean, spread_name

__all__ = ["Column", "Label", "Table", "dataset_title", "collect_tables"]


def dataset_title(name):
    """Display name of a dataset config basename (``oxford_pets`` -> ``Oxford Pets``)."""
    return LAYOUTS[name].title if name in LAYOUTS else name


class Column(namedtuple("Column", ["title", "kind", "csv", "shots"])):
    """A column: its markdown title, the kind of its cells, its CSV column names.

    Kinds and their cells:

    * ``label``: a :class:`Label`; one CSV column (the label's key);
    * ``stat``: a :class:`~enprompt.results.stats.Stat` (mean ± spread over
      seeds), a float (an average) or None; two CSV columns, mean and spread;
    * ``value``: a float or None; one CSV column;
    * ``text``: a string; one CSV column.

    ``shots`` is the shot count of a few-shot column (the plot's x), else None.
    """

    def __new__(cls, title, kind, csv, shots=None):
        return super().__new__(cls, title, kind, tuple(csv), shots)


class Label(namedtuple("Label", ["text", "key"])):
    """First cell of a row: ``text`` for markdown, ``key`` for CSV (``DTD``, ``dtd``)."""


class Table:
    """One table: a title, columns, rows of cells, and the runs it lacks.

    Attributes:
        protocol (str): ``base2new``, ``cross_dataset``, ``domain_generalization``
            or ``few_shot``.
        title (str): heading, naming the trainer and config.
        slug (str): file-name stem for ``--out``.
        columns (list[Column]): the columns.
        rows (list[list]): one cell per column (see :class:`Column`).
        notes (list[str]): sentences printed under the table.
        missing (list[tuple[str, str]]): (run folder, reason).
    """

    def __init__(self, protocol, title, slug, columns):
        self.protocol = protocol
        self.title = title
        self.slug = slug
        self.columns = columns
        self.rows = []
        self.notes = []
        self.missing = []


def _label_column():
    return Column("Dataset", "label", ["dataset"])


def _seeds_column():
    return Column("Seeds", "text", ["seeds"])


def _stat_column(title, csv_prefix, ci95, shots=None):
    return Column(title, "stat", [f"{csv_prefix}mean", f"{csv_prefix}{spread_name(ci95)}"], shots)


def _dataset_label(dataset):
    return Label(dataset_title(dataset), dataset)


def _average_label(text):
    return Label(text, "average")


def _seeds_cell(stats, n_expected):
    n = min((s.n for s in stats if s is not None), default=0)
    if any(s is None for s in stats):
        n = 0
    return str(n) if n == n_expected else f"{n}/{n_expected}"


def _average_text(what, done, total, unit):
    return what if done == total else f"Average ({done} of {total} {unit})"


# --------------------------------------------------------------------------
# Base-to-novel
# --------------------------------------------------------------------------
def _base2new_tables(root, keyword, ci95, seeds):
    tables = []
    for (trainer, cfg, shots), experiments in sorted(base2new_experiments(root, seeds).items()):
        columns = [
            _label_column(),
            _stat_column("Base", "base_", ci95),
            _stat_column("New", "new_", ci95),
            Column("HM", "value", ["hm"]),
            _seeds_column(),
        ]
        table = Table(
            "base2new",
            f"Base-to-novel: {trainer} / {cfg} ({shots} shots)",
            f"base2new-{trainer}-{cfg}",
            columns,
        )
        stats, n_seeds, table.missing = experiments.read(keyword, ci95)
        complete = []
        datasets = dataset_order({dataset for dataset, _ in stats})
        for dataset in datasets:
            base, new = stats[(dataset, "base")], stats[(dataset, "new")]
            hm = harmonic_mean(base.mean, new.mean) if base and new else None
            if hm is not None:
                complete.append((base.mean, new.mean))
            seeds_cell = _seeds_cell([base, new], n_seeds)
            table.rows.append([_dataset_label(dataset), base, new, hm, seeds_cell])
        if complete:
            base_avg = float(np.mean([b for b, _ in complete]))
            new_avg = float(np.mean([n for _, n in complete]))
            label = _average_text("Average", len(complete), len(datasets), "datasets")
            table.rows.append([
                _average_label(label), base_avg, new_avg, harmonic_mean(base_avg, new_avg), "",
            ])
            table.notes.append(
                "HM = 2*Base*New/(Base+New) of the mean Base and mean New; the Average "
                "row's HM is the HM of the average Base and average New."
            )
        tables.append(table)
    return tables


# --------------------------------------------------------------------------
# Cross-dataset and domain generalisation
# --------------------------------------------------------------------------
def _xd_tables(root, keyword, ci95, seeds):
    tables = []
    for (trainer, cfg, shots), experiments in sorted(xd_experiments(root, seeds).items()):
        stats, n_seeds, missing = experiments.read(keyword, ci95)
        targets = [key for key in stats if key != "source"]
        dg = [t for t in targets if t in DG_TARGETS]
        xd = [t for t in targets if t not in DG_TARGETS]
        # A table per protocol that has targets (the source alone: cross-dataset).
        parts = []
        if xd or not dg:
            parts.append(("cross_dataset", "Cross-dataset", xd))
        if dg:
            parts.append(("domain_generalization", "Domain generalization", dg))
        for protocol, name, names in parts:
            columns = [_label_column(), _stat_column("Accuracy", "", ci95), _seeds_column()]
            table = Table(
                protocol,
                f"{name}: {trainer} / {cfg} ({shots} shots on ImageNet)",
                f"{protocol}-{trainer}-{cfg}_{shots}shots",
                columns,
            )
            source = stats["source"]
            source_label = Label(f"{dataset_title(XD_SOURCE)} (source)", f"{XD_SOURCE} (source)")
            table.rows.append([source_label, source, _seeds_cell([source], n_seeds)])
            done = []
            for dataset in dataset_order(names):
                stat = stats[dataset]
                if stat:
                    done.append(stat.mean)
                table.rows.append([_dataset_label(dataset), stat, _seeds_cell([stat], n_seeds)])
            if done:
                label = _average_text("Average (targets)", len(done), len(names), "targets")
                table.rows.append([_average_label(label), float(np.mean(done)), ""])
            # The source's missing runs belong to both tables; a target's to its own.
            keep = {experiments.folders[key] for key in ["source", *names]}
            table.missing = [m for m in missing if osp.dirname(m[0]) in keep]
            tables.append(table)
    return tables


# --------------------------------------------------------------------------
# Few-shot
# --------------------------------------------------------------------------
def _few_shot_tables(root, keyword, ci95, seeds):
    tables = []
    for (trainer, cfg), experiments in sorted(few_shot_experiments(root, seeds).items()):
        all_shots = sorted({shots for _, shots in experiments.folders})
        datasets = dataset_order({dataset for dataset, _ in experiments.folders})
        columns = [
            _label_column(),
            *[_stat_column(f"{s} shot" if s == 1 else f"{s} shots", f"{s}shots_", ci95, shots=s)
              for s in all_shots],
            _seeds_column(),
        ]
        table = Table("few_shot", f"Few-shot: {trainer} / {cfg}", f"few_shot-{trainer}-{cfg}",
                      columns)
        stats, n_seeds, table.missing = experiments.read(keyword, ci95)
        for dataset in datasets:
            row = [stats[(dataset, s)] for s in all_shots]
            table.rows.append([_dataset_label(dataset), *row, _seeds_cell(row, n_seeds)])
        averages = []
        for shots in all_shots:
            done = [stats[(d, shots)].mean for d in datasets if stats[(d, shots)]]
            averages.append(float(np.mean(done)) if len(done) == len(datasets) else None)
        if len(datasets) > 1 and any(a is not None for a in averages):
            table.rows.append([_average_label("Average"), *averages, ""])
            table.notes.append("Average: over the datasets, for shot counts every dataset has.")
        tables.append(table)
    return tables


def collect_tables(root, keyword="accuracy", ci95=False, seeds=None):
    """Every table that the run folders under ``root`` give, protocol by protocol.

    Args:
        root (str): the output root of the scripts (their ``$OUTPUT``).
        keyword (str): the metric of the ``=> result`` block.
        ci95 (bool): spread is the 95% confidence interval instead of std.
        seeds (list[int] or None): the seeds every run is expected to have
            (default: every seed found in the same table).

    Returns:
        list[Table]
    """
    return (
        _base2new_tables(root, keyword, ci95, seeds)
        + _xd_tables(root, keyword, ci95, seeds)
        + _few_shot_tables(root, keyword, ci95, seeds)
    )
