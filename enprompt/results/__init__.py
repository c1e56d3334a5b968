"""The paper's tables from an output folder of the benchmark scripts.

::

    python -m enprompt.results output                    # markdown on the console
    python -m enprompt.results output --format csv
    python -m enprompt.results output --out tables/      # + .md, .csv, few-shot .png
    enprompt-results output --seeds 1 2 3                # same, after pip install

Walks the folders that ``scripts/enprompt/*.sh`` write (the CoOp-family
layout of :mod:`enprompt.protocols`, see ``docs/PROTOCOLS.md``)::

    base2new/train_base/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>   Base (training log)
    base2new/test_new/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>     New (--eval-only log)
    imagenet/<trainer>/<cfg>_<K>shots/seed<S>                         cross-dataset source
    evaluation/<trainer>/<cfg>_<K>shots/<dataset>/seed<S>             cross-dataset / DG targets
    few_shot/<dataset>/<trainer>/<cfg>_<K>shots/seed<S>               few-shot

and prints one table per protocol and per (trainer, config)
(:mod:`~enprompt.results.tables`); with ``--out`` also a PNG plot of few-shot
accuracy against shots per dataset.

Cells are "mean ± std" over seeds, std being ``numpy.std`` (population,
ddof=0) as in CoOp's ``parse_test_res.py``, or the 95% confidence interval
with ``--ci95``. Each run folder's result comes from its newest log that holds
a finished result (:mod:`enprompt.logparse`). A run folder that is expected
but has no finished result (another seed or dataset of the same table has
one, or ``--seeds`` names it) is listed under "Missing runs", never silently
dropped; a row with fewer seeds than expected shows it in its Seeds column.

The package: ``discovery`` (which runs exist and which are expected, and
their results), ``stats`` (mean and spread), ``tables`` (the tables' cells),
``render`` (markdown, CSV, PNG) and ``cli``.
"""
from .cli import main
from .render import plot_few_shot, render_csv, render_markdown
from .stats import Stat, harmonic_mean
from .tables import Column, Label, Table, collect_tables, dataset_title

__all__ = [
    "Stat",
    "Column",
    "Label",
    "Table",
    "collect_tables",
    "dataset_title",
    "harmonic_mean",
    "render_markdown",
    "render_csv",
    "plot_few_shot",
    "main",
]
