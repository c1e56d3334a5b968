"""``python -m enprompt.results`` (and ``enprompt-results``): print and write the tables."""
import argparse
import os
import os.path as osp
import sys

from enprompt.fileio import atomic_write

from .render import plot_few_shot, render_csv, render_markdown, render_problems_tsv
from .tables import collect_tables, problem_runs

__all__ = ["main", "default_root"]

# The repository of a source checkout (where the scripts write by default).
_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def default_root():
    """The scripts' output root: ``$OUTPUT`` if set, else ``<repository>/output``.

    The scripts of ``scripts/enprompt/`` write there by default. Outside a
    source checkout (an installed package) it is ``output`` in the current folder.
    """
    if os.environ.get("OUTPUT"):
        return os.environ["OUTPUT"]
    if osp.isdir(osp.join(_REPO, "scripts", "enprompt")):
        return osp.join(_REPO, "output")
    return "output"


def _write(path, text):
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.results",
        description="Print the paper's tables (base-to-novel, cross-dataset, domain "
        "generalization, few-shot) from an output folder of scripts/enprompt/*.sh. Each "
        "run's result, state and evaluated checkpoint come from its manifest.json (from its "
        "logs for folders written before manifests existed); runs left out of a table are "
        "listed under it with the reason.",
    )
    parser.add_argument(
        "root", nargs="?", default=None,
        help="output folder of the scripts (default: $OUTPUT if set, else the scripts' "
        f"default, currently {default_root()})",
    )
    parser.add_argument("--format", choices=["markdown", "csv"], default="markdown",
                        help="console format (default: markdown)")
    parser.add_argument("--out", default="",
                        help="also write every table as <name>.md and <name>.csv to this "
                        "folder, the few-shot plots as <name>.png, and problem_runs.tsv "
                        "(the runs left out of the tables: state, folder, reason)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds every run is expected to have (default: every seed "
                        "found in the same table)")
    parser.add_argument("--keyword", default="accuracy",
                        help="metric of the '=> result' block (default: accuracy)")
    parser.add_argument("--ci95", action="store_true",
                        help="report the 95%% confidence interval 1.96*std/sqrt(n) instead of std")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    root = args.root if args.root is not None else default_root()
    if not osp.isdir(root):
        given = "" if args.root is not None else " (the default root; pass the output folder)"
        print(f"Error: {root} is not a directory{given}. Expected the output folder of "
              "scripts/enprompt/*.sh, e.g. output", file=sys.stderr)
        return 2
    tables = collect_tables(root, args.keyword, args.ci95, args.seeds)
    if not tables:
        print(
            f"No run folders found under {root}. Expected base2new/train_base/..., "
            "base2new/test_new/..., imagenet/..., evaluation/... or few_shot/... "
            "(see docs/PROTOCOLS.md).", file=sys.stderr,
        )
        return 1

    spread_name = "CI95" if args.ci95 else "std"
    problems = problem_runs(tables)
    if args.format == "markdown":
        print("\n".join(render_markdown(t, spread_name) for t in tables), end="")
    else:
        print("\n".join(f"# {t.title}\n{render_csv(t)}" for t in tables), end="")
        for problem in problems:  # the console CSV stays machine-readable
            print(f"not in the tables ({problem.state}): {problem.run_dir}: {problem.reason}",
                  file=sys.stderr)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for table in tables:
            _write(osp.join(args.out, table.slug + ".md"), render_markdown(table, spread_name))
            _write(osp.join(args.out, table.slug + ".csv"), render_csv(table))
            if table.protocol == "few_shot":
                plot_few_shot(table, osp.join(args.out, table.slug + ".png"))
        _write(osp.join(args.out, "problem_runs.tsv"), render_problems_tsv(problems))
        print(f"Tables written to {args.out}", file=sys.stderr)
    return 0
