"""A :class:`~enprompt.results.tables.Table` as markdown, CSV or a few-shot plot."""
import csv
import io

from enprompt.fileio import atomic_write

from .runs import PROBLEM_STATES
from .stats import Stat
from .tables import Label

__all__ = ["PROBLEM_HEADINGS", "problem_lines", "render_markdown", "render_csv",
           "render_problems_tsv", "plot_few_shot"]


def _markdown_cell(value):
    if value is None:
        return "–"
    if isinstance(value, Stat):
        return f"{value.mean:.2f} ± {value.spread:.2f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, Label):
        return value.text
    return str(value)


# The heading of each kind of run a table leaves out (listed in PROBLEM_STATES' order).
PROBLEM_HEADINGS = {
    "mixed": "Refused, not averaged",
    "failed": "Failed runs",
    "interrupted": "Interrupted runs",
    "running": "Running (or killed) runs",
    "partial": "Partial results, not averaged",
    "unreadable": "Runs with an unreadable manifest",
    "unfinished": "Unfinished runs (no manifest)",
    "missing": "Missing runs",
}


def problem_lines(problems):
    """The runs a table leaves out, under one heading per state, as markdown lines."""
    lines = []
    for state in PROBLEM_STATES:
        heading = PROBLEM_HEADINGS[state]
        found = [p for p in problems if p.state == state]
        if found:
            lines.append("")
            lines.append(f"{heading} ({len(found)}):")
            lines.extend(f"- {p.run_dir}: {p.reason}" for p in found)
    return lines


def render_markdown(table, spread_name="std"):
    """The table in GitHub markdown, with its title, notes and the runs it leaves out."""
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(column.title for column in table.columns) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
    lines.append("")
    lines.append(f"Cells: mean ± {spread_name} over seeds (accuracy in %).")
    lines.extend(table.notes)
    lines.extend(problem_lines(table.problems))
    return "\n".join(lines) + "\n"


def _csv_values(column, value):
    """The CSV fields of one cell (raw numbers; None where there is none)."""
    if column.kind == "label":
        return [value.key]
    if column.kind == "stat":
        if isinstance(value, Stat):
            return [value.mean, value.spread]
        return [value, None]  # an average (a float) or no result
    return [value]


def render_csv(table):
    """The table as CSV with raw numbers (empty where there is none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for column in table.columns for name in column.csv])
    for row in table.rows:
        fields = [f for column, cell in zip(table.columns, row) for f in _csv_values(column, cell)]
        writer.writerow(["" if f is None else (f"{f:.4f}" if isinstance(f, float) else f)
                         for f in fields])
    return buffer.getvalue()


def render_problems_tsv(problems):
    """The runs left out of the tables, one per line: ``state<TAB>run folder<TAB>reason``."""
    lines = ["state\trun_dir\treason"]
    lines.extend(f"{p.state}\t{p.run_dir}\t{p.reason}" for p in problems)
    return "\n".join(lines) + "\n"


def _plot_panels(table):
    """``[(row title, {shots: Stat})]``: a panel per row of a few-shot table."""
    panels = []
    for row in table.rows:
        points = {}
        for column, value in zip(table.columns, row):
            if column.shots is None or value is None:
                continue
            stat = value if isinstance(value, Stat) else Stat(value, 0.0, 0)  # an average
            points[column.shots] = stat
        panels.append((row[0].text, points))
    return panels


def plot_few_shot(table, path):
    """Save accuracy against shots, one panel per dataset (and the average), as a PNG."""
    # Figure + Agg canvas directly: no pyplot, so no global backend is changed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _plot_panels(table)
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
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return path
