"""The paper's tables from an output folder of the benchmark scripts.

::

    python -m enprompt.results output                    # markdown on the console
    python -m enprompt.results output --format csv
    python -m enprompt.results output --out tables/      # + .md, .csv, few-shot .png
    enprompt-results output --seeds 1 2 3                # same, after pip install

Walks the folders that ``scripts/enprompt/*.sh`` write (the CoOp-family
layout, see ``docs/PROTOCOLS.md``)::

    base2new/train_base/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>   Base (training log)
    base2new/test_new/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>     New (--eval-only log)
    imagenet/<trainer>/<cfg>_<K>shots/seed<S>                         cross-dataset source
    evaluation/<trainer>/<cfg>_<K>shots/<dataset>/seed<S>             cross-dataset / DG targets
    few_shot/<dataset>/<trainer>/<cfg>_<K>shots/seed<S>               few-shot

and prints one table per protocol and per (trainer, config):

* **base-to-novel**: Base, New and HM = 2·B·N / (B + N) per dataset. Each
  dataset's HM is computed from its mean Base and mean New over seeds, and
  the Average row holds the mean Base and mean New over datasets and the HM
  *of those two averages*, as the CoOp-family papers report it (not the mean
  of the per-dataset HMs);
* **cross-dataset**: the ImageNet source and each target; the average is
  over the targets (the source is not in it), as in the papers;
* **domain generalisation**: the source and ImageNet-V2/-Sketch/-A/-R,
  average over the four;
* **few-shot**: one column per shot count, average over datasets; with
  ``--out`` also a PNG plot of accuracy against shots per dataset.

Cells are "mean ± std" over seeds, std being ``numpy.std`` (population,
ddof=0) as in CoOp's ``parse_test_res.py``, or the 95% confidence interval
with ``--ci95``. Each run folder's result comes from its newest log that holds
a finished result (:mod:`enprompt.logparse`). A run folder that is expected
but has no finished result (another seed or dataset of the same table has
one, or ``--seeds`` names it) is listed under "Missing runs", never silently
dropped; a row with fewer seeds than expected shows it in its Seeds column.
"""
import argparse
import csv
import io
import os
import os.path as osp
import re
import sys
from collections import defaultdict, namedtuple

import numpy as np

from enprompt.data.catalog import LAYOUTS
from enprompt.logparse import describe_missing, find_result

__all__ = [
    "DG_TARGETS",
    "XD_SOURCE",
    "Stat",
    "Table",
    "collect_tables",
    "harmonic_mean",
    "render_markdown",
    "render_csv",
    "plot_few_shot",
    "main",
]

# The cross-dataset source and the domain-generalisation targets.
XD_SOURCE = "imagenet"
DG_TARGETS = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")

_SEED_DIR = re.compile(r"^seed(\d+)$")
_CFG_SHOTS = re.compile(r"^(.+)_(\d+)shots$")
_SHOTS_DIR = re.compile(r"^shots_(\d+)$")


def dataset_title(name):
    """Display name of a dataset config basename (``oxford_pets`` -> ``Oxford Pets``)."""
    return LAYOUTS[name].title if name in LAYOUTS else name


def _dataset_order(names):
    # The papers' order (the catalog's), then any other dataset by name.
    known = list(LAYOUTS)
    return sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n))


def _subdirs(path):
    if not osp.isdir(path):
        return []
    return sorted(
        name for name in os.listdir(path)
        if not name.startswith(".") and osp.isdir(osp.join(path, name))
    )


def _seed_dirs(path):
    """``{seed: run_dir}`` for the ``seed<S>`` folders of ``path``."""
    seeds = {}
    for name in _subdirs(path):
        match = _SEED_DIR.match(name)
        if match:
            seeds[int(match.group(1))] = osp.join(path, name)
    return seeds


def harmonic_mean(base, new):
    """HM = 2·B·N / (B + N) of two accuracies (0 if both are 0)."""
    return 2.0 * base * new / (base + new) if base + new > 0 else 0.0


class Stat(namedtuple("Stat", ["mean", "spread", "n"])):
    """Mean and std (or CI95) over the seeds that have a result; ``n`` of them."""

    @classmethod
    def of(cls, values, ci95=False):
        if not values:
            return None
        std = float(np.std(values))
        spread = 1.96 * std / np.sqrt(len(values)) if ci95 else std
        return cls(float(np.mean(values)), float(spread), len(values))


class Table:
    """One table: a title, column names, rows of cells, and the runs it lacks.

    Attributes:
        protocol (str): ``base2new``, ``cross_dataset``, ``domain_generalization``
            or ``few_shot``.
        title (str): heading, naming the trainer and config.
        slug (str): file-name stem for ``--out``.
        columns (list[str]): markdown column names.
        rows (list[list]): cells; a :class:`Stat`, a float, a string or None.
        csv_columns (list[str]) / csv_rows (list[list]): the same with raw numbers.
        missing (list[tuple[str, str]]): (run folder, reason).
        few_shot (dict): for the plot, ``{dataset title: {shots: Stat}}``.
    """

    def __init__(self, protocol, title, slug):
        self.protocol = protocol
        self.title = title
        self.slug = slug
        self.columns, self.rows = [], []
        self.csv_columns, self.csv_rows = [], []
        self.missing = []
        self.few_shot = {}
        self.notes = []


class _Runs:
    """The experiment folders of one table, one per cell, and how to read them.

    A key names a cell, e.g. ``("dtd", "base")``; its folder holds the
    ``seed<S>`` run folders (or does not exist yet). Every cell is expected to
    have every seed of the table (:meth:`expected_seeds`).
    """

    def __init__(self, seeds=None):
        self.folders = {}
        self.seed_dirs = {}
        self.test_log = {}
        self.forced_seeds = seeds

    def add(self, key, folder, test_log):
        self.folders[key] = folder
        self.seed_dirs[key] = _seed_dirs(folder)
        self.test_log[key] = test_log

    def expected_seeds(self):
        if self.forced_seeds:
            return sorted(self.forced_seeds)
        return sorted({seed for dirs in self.seed_dirs.values() for seed in dirs})

    def read(self, keyword, ci95, missing):
        """``({key: Stat or None}, number of expected seeds)``.

        Appends ``(run folder, reason)`` of every expected run without a
        finished result to ``missing``.
        """
        seeds = self.expected_seeds()
        stats = {}
        for key, folder in self.folders.items():
            test_log = self.test_log[key]
            values = []
            for seed in seeds:
                run_dir = self.seed_dirs[key].get(seed, osp.join(folder, f"seed{seed}"))
                result = find_result(run_dir, keyword, test_log)
                if result is None:
                    missing.append((run_dir, describe_missing(run_dir, test_log)))
                else:
                    values.append(result.value)
            stats[key] = Stat.of(values, ci95)
        return stats, len(seeds)


def _seeds_cell(stats, n_expected):
    n = min((s.n for s in stats if s is not None), default=0)
    if any(s is None for s in stats):
        n = 0
    return str(n) if n == n_expected else f"{n}/{n_expected}"


# --------------------------------------------------------------------------
# Base-to-novel
# --------------------------------------------------------------------------
_B2N_PHASES = [("base", "train_base", False), ("new", "test_new", True)]


def _base2new_tables(root, keyword, ci95, seeds):
    groups = defaultdict(lambda: _Runs(seeds))
    for phase, part, test_log in _B2N_PHASES:
        phase_root = osp.join(root, "base2new", part)
        for dataset in _subdirs(phase_root):
            for shots_dir in _subdirs(osp.join(phase_root, dataset)):
                match = _SHOTS_DIR.match(shots_dir)
                if not match:
                    continue
                shots = int(match.group(1))
                for trainer in _subdirs(osp.join(phase_root, dataset, shots_dir)):
                    for cfg in _subdirs(osp.join(phase_root, dataset, shots_dir, trainer)):
                        folder = osp.join(phase_root, dataset, shots_dir, trainer, cfg)
                        groups[(trainer, cfg, shots)].add((dataset, phase), folder, test_log)

    tables = []
    for (trainer, cfg, shots), runs in sorted(groups.items()):
        # Each dataset needs both phases: expect the folder of a phase never run.
        for dataset in {d for d, _ in runs.folders}:
            for phase, part, test_log in _B2N_PHASES:
                if (dataset, phase) not in runs.folders:
                    folder = osp.join(root, "base2new", part, dataset, f"shots_{shots}", trainer, cfg)
                    runs.add((dataset, phase), folder, test_log)
        table = Table(
            "base2new",
            f"Base-to-novel: {trainer} / {cfg} ({shots} shots)",
            f"base2new-{trainer}-{cfg}",
        )
        stats, n_seeds = runs.read(keyword, ci95, table.missing)
        table.columns = ["Dataset", "Base", "New", "HM", "Seeds"]
        spread = _spread_name(ci95)
        table.csv_columns = [
            "dataset", "base_mean", f"base_{spread}", "new_mean", f"new_{spread}", "hm", "seeds",
        ]
        complete = []
        datasets = _dataset_order({d for d, _ in stats})
        for dataset in datasets:
            base, new = stats[(dataset, "base")], stats[(dataset, "new")]
            hm = harmonic_mean(base.mean, new.mean) if base and new else None
            if hm is not None:
                complete.append((base.mean, new.mean))
            seeds_cell = _seeds_cell([base, new], n_seeds)
            table.rows.append([dataset_title(dataset), base, new, hm, seeds_cell])
            table.csv_rows.append([
                dataset, *_mean_std(base), *_mean_std(new), hm, seeds_cell,
            ])
        if complete:
            base_avg = float(np.mean([b for b, _ in complete]))
            new_avg = float(np.mean([n for _, n in complete]))
            hm_avg = harmonic_mean(base_avg, new_avg)
            label = "Average" if len(complete) == len(datasets) else (
                f"Average ({len(complete)} of {len(datasets)} datasets)"
            )
            table.rows.append([label, base_avg, new_avg, hm_avg, ""])
            table.csv_rows.append(["average", base_avg, None, new_avg, None, hm_avg, ""])
            table.notes.append(
                "HM = 2*Base*New/(Base+New) of the mean Base and mean New; the Average "
                "row's HM is the HM of the average Base and average New."
            )
        tables.append(table)
    return tables


def _mean_std(stat):
    return (stat.mean, stat.spread) if stat else (None, None)


def _spread_name(ci95):
    return "ci95" if ci95 else "std"


# --------------------------------------------------------------------------
# Cross-dataset and domain generalisation
# --------------------------------------------------------------------------
def _xd_tables(root, keyword, ci95, seeds):
    groups = defaultdict(lambda: _Runs(seeds))
    eval_root = osp.join(root, "evaluation")
    for trainer in _subdirs(eval_root):
        for cfg_shots in _subdirs(osp.join(eval_root, trainer)):
            if not _CFG_SHOTS.match(cfg_shots):
                continue
            for dataset in _subdirs(osp.join(eval_root, trainer, cfg_shots)):
                folder = osp.join(eval_root, trainer, cfg_shots, dataset)
                groups[(trainer, cfg_shots)].add(dataset, folder, True)
    source_root = osp.join(root, XD_SOURCE)
    for trainer in _subdirs(source_root):
        for cfg_shots in _subdirs(osp.join(source_root, trainer)):
            folder = osp.join(source_root, trainer, cfg_shots)
            if _CFG_SHOTS.match(cfg_shots) and _seed_dirs(folder):
                groups[(trainer, cfg_shots)].add("source", folder, False)

    tables = []
    for (trainer, cfg_shots), runs in sorted(groups.items()):
        cfg, shots = _CFG_SHOTS.match(cfg_shots).groups()
        if "source" not in runs.folders:
            runs.add("source", osp.join(source_root, trainer, cfg_shots), False)
        missing = []
        stats, n_seeds = runs.read(keyword, ci95, missing)
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
            table = Table(
                protocol,
                f"{name}: {trainer} / {cfg} ({shots} shots on ImageNet)",
                f"{protocol}-{trainer}-{cfg_shots}",
            )
            table.columns = ["Dataset", "Accuracy", "Seeds"]
            table.csv_columns = ["dataset", "mean", _spread_name(ci95), "seeds"]
            source = stats["source"]
            source_cell = _seeds_cell([source], n_seeds)
            table.rows.append([f"{dataset_title(XD_SOURCE)} (source)", source, source_cell])
            table.csv_rows.append([f"{XD_SOURCE} (source)", *_mean_std(source), source_cell])
            done = []
            for dataset in _dataset_order(names):
                stat = stats[dataset]
                if stat:
                    done.append(stat.mean)
                cell = _seeds_cell([stat], n_seeds)
                table.rows.append([dataset_title(dataset), stat, cell])
                table.csv_rows.append([dataset, *_mean_std(stat), cell])
            if done:
                avg = float(np.mean(done))
                label = "Average (targets)" if len(done) == len(names) else (
                    f"Average ({len(done)} of {len(names)} targets)"
                )
                table.rows.append([label, avg, ""])
                table.csv_rows.append(["average", avg, None, ""])
            # The source's missing runs belong to both tables; a target's to its own.
            keep = {runs.folders[k] for k in ["source", *names]}
            table.missing = [m for m in missing if osp.dirname(m[0]) in keep]
            tables.append(table)
    return tables


# --------------------------------------------------------------------------
# Few-shot
# --------------------------------------------------------------------------
def _few_shot_tables(root, keyword, ci95, seeds):
    groups = defaultdict(lambda: _Runs(seeds))
    fs_root = osp.join(root, "few_shot")
    for dataset in _subdirs(fs_root):
        for trainer in _subdirs(osp.join(fs_root, dataset)):
            for cfg_shots in _subdirs(osp.join(fs_root, dataset, trainer)):
                match = _CFG_SHOTS.match(cfg_shots)
                if not match:
                    continue
                cfg, shots = match.group(1), int(match.group(2))
                folder = osp.join(fs_root, dataset, trainer, cfg_shots)
                groups[(trainer, cfg)].add((dataset, shots), folder, False)

    tables = []
    for (trainer, cfg), runs in sorted(groups.items()):
        all_shots = sorted({s for _, s in runs.folders})
        datasets = _dataset_order({d for d, _ in runs.folders})
        for dataset in datasets:  # every dataset is expected at every shot count
            for shots in all_shots:
                if (dataset, shots) not in runs.folders:
                    folder = osp.join(fs_root, dataset, trainer, f"{cfg}_{shots}shots")
                    runs.add((dataset, shots), folder, False)
        table = Table("few_shot", f"Few-shot: {trainer} / {cfg}", f"few_shot-{trainer}-{cfg}")
        stats, n_seeds = runs.read(keyword, ci95, table.missing)
        table.columns = [
            "Dataset", *[f"{s} shot" if s == 1 else f"{s} shots" for s in all_shots], "Seeds",
        ]
        table.csv_columns = ["dataset"]
        for s in all_shots:
            table.csv_columns += [f"{s}shots_mean", f"{s}shots_{_spread_name(ci95)}"]
        table.csv_columns.append("seeds")
        for dataset in datasets:
            row = [stats[(dataset, s)] for s in all_shots]
            cell = _seeds_cell(row, n_seeds)
            table.rows.append([dataset_title(dataset), *row, cell])
            table.csv_rows.append([dataset, *[v for st in row for v in _mean_std(st)], cell])
            table.few_shot[dataset_title(dataset)] = {
                s: st for s, st in zip(all_shots, row) if st is not None
            }
        averages = []
        for shots in all_shots:
            done = [stats[(d, shots)].mean for d in datasets if stats[(d, shots)]]
            averages.append(float(np.mean(done)) if len(done) == len(datasets) else None)
        if len(datasets) > 1 and any(a is not None for a in averages):
            table.rows.append(["Average", *averages, ""])
            table.csv_rows.append(["average", *[v for a in averages for v in (a, None)], ""])
            table.few_shot["Average"] = {
                s: Stat(a, 0.0, 0) for s, a in zip(all_shots, averages) if a is not None
            }
            table.notes.append("Average: over the datasets, for shot counts every dataset has.")
        tables.append(table)
    return tables


def plot_few_shot(table, path):
    """Save accuracy against shots, one panel per dataset (and the average), as a PNG."""
    # Figure + Agg canvas directly: no pyplot, so no global backend is changed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = list(table.few_shot.items())
    ncols = min(4, len(panels))
    nrows = (len(panels) + ncols - 1) // ncols
    fig = Figure(figsize=(max(3.2 * ncols, 6.4), 2.8 * nrows + 0.4))
    FigureCanvasAgg(fig)
    for i, (title, points) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        shots = sorted(points)
        means = [points[s].mean for s in shots]
        spreads = [points[s].spread for s in shots]
        ax.errorbar(shots, means, yerr=spreads, marker="o", capsize=3)
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots)
        ax.set_xticklabels([str(s) for s in shots])
        ax.set_title(title)
        ax.set_xlabel("shots per class")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
    fig.suptitle(table.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def collect_tables(root, keyword="accuracy", ci95=False, seeds=None):
    """Every table that the run folders under ``root`` give, protocol by protocol."""
    return (
        _base2new_tables(root, keyword, ci95, seeds)
        + _xd_tables(root, keyword, ci95, seeds)
        + _few_shot_tables(root, keyword, ci95, seeds)
    )


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def _cell(value):
    if value is None:
        return "–"
    if isinstance(value, Stat):
        return f"{value.mean:.2f} ± {value.spread:.2f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render_markdown(table, spread_name="std"):
    """The table in GitHub markdown, with its title, notes and missing runs."""
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    lines.append("")
    lines.append(f"Cells: mean ± {spread_name} over seeds (accuracy in %).")
    lines.extend(table.notes)
    if table.missing:
        lines.append("")
        lines.append(f"Missing runs ({len(table.missing)}):")
        lines.extend(f"- {run_dir}: {reason}" for run_dir, reason in table.missing)
    return "\n".join(lines) + "\n"


def render_csv(table):
    """The table as CSV with raw numbers (empty where there is none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.csv_columns)
    for row in table.csv_rows:
        writer.writerow(["" if v is None else (f"{v:.4f}" if isinstance(v, float) else v)
                         for v in row])
    return buffer.getvalue()


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.results",
        description="Print the paper's tables (base-to-novel, cross-dataset, domain "
        "generalization, few-shot) from an output folder of scripts/enprompt/*.sh.",
    )
    parser.add_argument("root", help="output folder of the scripts (their $OUTPUT, default output)")
    parser.add_argument("--format", choices=["markdown", "csv"], default="markdown",
                        help="console format (default: markdown)")
    parser.add_argument("--out", default="",
                        help="also write every table as <name>.md and <name>.csv to this "
                        "folder, the few-shot plots as <name>.png, and missing_runs.txt")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds every run is expected to have (default: every seed "
                        "found in the same table)")
    parser.add_argument("--keyword", default="accuracy",
                        help="metric of the '=> result' block (default: accuracy)")
    parser.add_argument("--ci95", action="store_true",
                        help="report the 95%% confidence interval 1.96*std/sqrt(n) instead of std")
    args = parser.parse_args(argv)

    if not osp.isdir(args.root):
        print(f"Error: {args.root} is not a directory (expected the output folder of "
              "scripts/enprompt/*.sh, e.g. output)", file=sys.stderr)
        return 2
    tables = collect_tables(args.root, args.keyword, args.ci95, args.seeds)
    if not tables:
        print(
            f"No run folders found under {args.root}. Expected base2new/train_base/..., "
            "base2new/test_new/..., imagenet/..., evaluation/... or few_shot/... "
            "(see docs/PROTOCOLS.md).", file=sys.stderr,
        )
        return 1

    spread_name = "CI95" if args.ci95 else "std"
    missing = [m for table in tables for m in table.missing]
    if args.format == "markdown":
        print("\n".join(render_markdown(t, spread_name) for t in tables), end="")
    else:
        print("\n".join(f"# {t.title}\n{render_csv(t)}" for t in tables), end="")
        for run_dir, reason in dict(missing).items():
            print(f"missing run: {run_dir}: {reason}", file=sys.stderr)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for table in tables:
            _write(osp.join(args.out, table.slug + ".md"), render_markdown(table, spread_name))
            _write(osp.join(args.out, table.slug + ".csv"), render_csv(table))
            if table.protocol == "few_shot" and table.few_shot:
                plot_few_shot(table, osp.join(args.out, table.slug + ".png"))
        _write(
            osp.join(args.out, "missing_runs.txt"),
            "".join(f"{run_dir}\t{reason}\n" for run_dir, reason in dict(missing).items()),
        )
        print(f"Tables written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
