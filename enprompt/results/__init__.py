"""The paper's tables from an output folder of the benchmark scripts.

::

    python -m enprompt.results                           # $OUTPUT, else <repo>/output
    python -m enprompt.results output                    # markdown on the console
    python -m enprompt.results output --format csv
    python -m enprompt.results output --out tables/      # + .md, .csv, few-shot .png
    enprompt-results output --seeds 1 2 3                # same, after pip install

From a program (e.g. at the end of a sweep)::

    tables = collect_tables("output")
    for problem in problem_runs(tables):          # (run_dir, state, reason)
        print(problem.state, problem.run_dir, problem.reason)

Walks the folders that ``scripts/enprompt/*.sh`` write (the CoOp-family
layout of :mod:`enprompt.protocols`, see ``docs/PROTOCOLS.md``)::

    base2new/train_base/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>   Base (training runs)
    base2new/test_new/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>     New (--eval-only runs)
    imagenet/<trainer>/<cfg>_<K>shots/seed<S>                         cross-dataset source
    evaluation/<trainer>/<cfg>_<K>shots/<dataset>/seed<S>             cross-dataset / DG targets
    few_shot/<dataset>/<trainer>/<cfg>_<K>shots/seed<S>               few-shot

and prints one table per protocol and per (trainer, config)
(:mod:`~enprompt.results.tables`); with ``--out`` also a PNG plot of few-shot
accuracy against shots per dataset.

Cells are "mean ± std" over seeds, std being ``numpy.std`` (population,
ddof=0) as in CoOp's ``parse_test_res.py``, or the 95% confidence interval
with ``--ci95``. Each run's result, state and evaluated checkpoint come from
its ``manifest.json`` (:mod:`~enprompt.results.runs`); a folder written before
manifests existed is read from its newest log that holds a finished result
(:mod:`enprompt.logparse`), and the table says so. Only finished results of
one experiment per cell are averaged (:mod:`~enprompt.results.checks`): an
evaluation of another checkpoint than the final one of the model in its
table, seeds of one cell that are different experiments, or a run in another
seed's folder is refused. The title gives the shots and epochs the runs used
(their manifests' ``DATASET.NUM_SHOTS`` and ``OPTIM.MAX_EPOCH``).

Every expected run (another seed or dataset of the same table has one, or
``--seeds`` names it) whose result is not in the table is listed under it,
by state (refused, failed, interrupted, running, partial, unreadable,
unfinished, missing) with the reason, never silently dropped; a row with
fewer seeds than expected shows it in its Seeds column.

The package: ``runs`` (one run folder: result and state), ``checks`` (which
results belong together), ``discovery`` (which runs exist and which are
expected), ``stats`` (mean and spread), ``tables`` (the tables' cells),
``render`` (markdown, CSV, PNG) and ``cli``.
"""
from .cli import main
from .render import plot_few_shot, render_csv, render_markdown, render_problems_tsv
from .runs import PROBLEM_STATES, Problem, Run, read_run
from .stats import Stat, harmonic_mean
from .tables import Column, Label, Table, collect_tables, dataset_title, problem_runs

__all__ = [
    "Stat",
    "Column",
    "Label",
    "Table",
    "collect_tables",
    "problem_runs",
    "Problem",
    "PROBLEM_STATES",
    "Run",
    "read_run",
    "dataset_title",
    "harmonic_mean",
    "render_markdown",
    "render_csv",
    "render_problems_tsv",
    "plot_few_shot",
    "main",
]
