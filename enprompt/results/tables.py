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

from .checks import settings_used, where_text
from .discovery import base2new_experiments, few_shot_experiments, xd_experiments
from .stats import harmonic_mean, spread_name

__all__ = ["Column", "Label", "Table", "dataset_title", "collect_tables", "problem_runs"]

# The identity keys the headers show: what the runs really used.
SHOTS_KEY = "DATASET.NUM_SHOTS"
EPOCHS_KEY = "OPTIM.MAX_EPOCH"


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
    """One table: a title, columns, rows of cells, and the runs it leaves out.

    Attributes:
        protocol (str): ``base2new``, ``cross_dataset``, ``domain_generalization``
            or ``few_shot``.
        title (str): heading, naming the trainer, config, and the shots and
            epochs the runs used.
        slug (str): file-name stem for ``--out``.
        columns (list[Column]): the columns.
        rows (list[list]): one cell per column (see :class:`Column`).
        notes (list[str]): sentences printed under the table.
        problems (list[Problem]): the expected runs whose result is not in
            the table, each with its state and the reason
            (:data:`~enprompt.results.runs.PROBLEM_STATES`).
    """

    def __init__(self, protocol, title, slug, columns):
        self.protocol = protocol
        self.title = title
        self.slug = slug
        self.columns = columns
        self.rows = []
        self.notes = []
        self.problems = []

    def problems_of(self, *states):
        """The problems in one of ``states`` (all of them when none is given)."""
        return [p for p in self.problems if not states or p.state in states]


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
# What the runs used, and what cannot be checked
# --------------------------------------------------------------------------
def _count_text(values, unit):
    """``16 shots``, ``1 epoch``, ``2 or 16 shots``."""
    words = [str(v) for v in values]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"{joined} {unit}" + ("" if values == [1] else "s")


def _settings(table, labelled_runs, folder_shots=None, with_shots=True, shots_on=""):
    """The title's ``16 shots, 5 epochs``: the values of the runs' manifests.

    Adds a note to ``table`` where the runs differ in them, or where they used
    other shots than their folders are named for. Without manifests the shots
    are the folders' (``folder_shots``) and the epochs are not shown.

    Args:
        labelled_runs (list[tuple[str, Run]]): the training runs whose results
            (or whose models' results) are in the table, with a label each.
        folder_shots (int or None): the shots the folder names say.
        with_shots (bool): the shots belong in the title (not for few-shot).
        shots_on (str): the dataset the shots are of, e.g. `` on ImageNet``.
    """
    shots = settings_used(labelled_runs, SHOTS_KEY) if with_shots else {}
    epochs = settings_used(labelled_runs, EPOCHS_KEY)
    parts = []
    if shots:
        parts.append(_count_text(list(shots), "shot") + shots_on)
    elif with_shots and folder_shots is not None:  # no manifest says what the runs used
        parts.append(_count_text([folder_shots], "shot") + shots_on + " by the folder names")
    if epochs:
        parts.append(_count_text(list(epochs), "epoch"))
    for key, used in [(SHOTS_KEY, shots), (EPOCHS_KEY, epochs)]:
        if len(used) > 1:
            table.notes.append(
                f"{key} differs between the runs of this table: "
                + ", ".join(f"{value} ({where_text(labels)})" for value, labels in used.items())
                + "."
            )
    if folder_shots is not None and len(shots) == 1 and folder_shots not in shots:
        table.notes.append(
            f"The runs used {SHOTS_KEY} {next(iter(shots))}, though their folders are named "
            f"for {folder_shots} shots; the title shows what the runs used."
        )
    return ", ".join(parts)


def _note_unchecked(table, cells):
    """Say once per table that runs without a manifest were read from their logs."""
    n = sum(1 for cell in cells for run in cell.runs.values() if run.source == "log")
    if n:
        table.notes.append(
            f"{n} run(s) have no manifest.json (written before run manifests existed): their "
            "results are read from their logs, and their configs, states and checkpoints "
            "cannot be checked."
        )


def _labelled(cells, label):
    """``[(label(cell), run)]`` of the runs of ``cells`` that hold a result, those
    kept out as mixed included: the header says what they used."""
    return [(label(cell), run) for cell in cells for run in cell.runs.values()
            if run.value is not None and run.state in ("finished", "mixed")]


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
        table = Table("base2new", "", f"base2new-{trainer}-{cfg}", columns)
        stats, n_seeds, table.problems, cells = experiments.read(keyword, ci95)
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
        trained = _labelled([cells[(d, "base")] for d in datasets],
                            lambda cell: dataset_title(cell.dataset))
        table.title = (f"Base-to-novel: {trainer} / {cfg} "
                       f"({_settings(table, trained, folder_shots=shots)})")
        _note_unchecked(table, cells.values())
        tables.append(table)
    return tables


# --------------------------------------------------------------------------
# Cross-dataset and domain generalisation
# --------------------------------------------------------------------------
def _xd_tables(root, keyword, ci95, seeds):
    tables = []
    for (trainer, cfg, shots), experiments in sorted(xd_experiments(root, seeds).items()):
        stats, n_seeds, problems, cells = experiments.read(keyword, ci95)
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
            table = Table(protocol, "", f"{protocol}-{trainer}-{cfg}_{shots}shots", columns)
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
            # The source's runs belong to both tables; a target's to its own.
            own = [cells[key] for key in ["source", *names]]
            keep = {cell.folder for cell in own}
            table.problems = [p for p in problems if osp.dirname(p.run_dir) in keep]
            trained = _labelled([cells["source"]], lambda cell: source_label.text)
            settings = _settings(table, trained, folder_shots=shots,
                                 shots_on=f" on {dataset_title(XD_SOURCE)}")
            table.title = f"{name}: {trainer} / {cfg} ({settings})"
            _note_unchecked(table, own)
            tables.append(table)
    return tables


# --------------------------------------------------------------------------
# Few-shot
# --------------------------------------------------------------------------
def _few_shot_column(table, shots, cells, ci95):
    """The column of one shot count, titled with the shots its runs used."""
    used = settings_used(_labelled(cells, lambda cell: dataset_title(cell.dataset)), SHOTS_KEY)
    values = list(used) or [shots]
    title = _count_text(values, "shot")
    if values != [shots]:
        table.notes.append(
            f"The runs of the column {title!r} are in folders named for {shots} shots "
            f"(_{shots}shots); the column shows what the runs used ({SHOTS_KEY})."
        )
    x = values[0] if len(values) == 1 else shots
    return _stat_column(title, f"{shots}shots_", ci95, shots=x)


def _few_shot_tables(root, keyword, ci95, seeds):
    tables = []
    for (trainer, cfg), experiments in sorted(few_shot_experiments(root, seeds).items()):
        all_shots = sorted({shots for _, shots in experiments.cells})
        datasets = dataset_order({dataset for dataset, _ in experiments.cells})
        table = Table("few_shot", "", f"few_shot-{trainer}-{cfg}", [])
        stats, n_seeds, table.problems, cells = experiments.read(keyword, ci95)
        table.columns = [
            _label_column(),
            *[_few_shot_column(table, s, [cells[(d, s)] for d in datasets], ci95)
              for s in all_shots],
            _seeds_column(),
        ]
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
        trained = _labelled(cells.values(), lambda cell: f"{dataset_title(cell.dataset)} "
                            f"{_count_text([cell.key[1]], 'shot')}")
        settings = _settings(table, trained, with_shots=False)
        table.title = f"Few-shot: {trainer} / {cfg}" + (f" ({settings})" if settings else "")
        _note_unchecked(table, cells.values())
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
        list[Table]: each with the runs it leaves out in ``problems`` (see
        :func:`problem_runs` for all of them at once).
    """
    return (
        _base2new_tables(root, keyword, ci95, seeds)
        + _xd_tables(root, keyword, ci95, seeds)
        + _few_shot_tables(root, keyword, ci95, seeds)
    )


def problem_runs(tables, *states):
    """Every run left out of ``tables``, once each, in the tables' order.

    Args:
        tables (list[Table]): from :func:`collect_tables`.
        *states: only these states (:data:`~enprompt.results.runs.PROBLEM_STATES`:
            ``mixed``, ``failed``, ``interrupted``, ``running``, ``partial``,
            ``unreadable``, ``unfinished``, ``missing``); all when none is given.

    Returns:
        list[Problem]: ``(run_dir, state, reason)``.
    """
    seen = {}
    for table in tables:
        for problem in table.problems_of(*states):
            seen.setdefault(problem.run_dir, problem)
    return list(seen.values())
