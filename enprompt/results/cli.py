"""``python -m enprompt.results`` (and ``enprompt-results``): print and write the tables."""
import argparse
import os
import os.path as osp
import sys

from .render import plot_few_shot, render_csv, render_markdown
from .tables import collect_tables

__all__ = ["main"]


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_parser():
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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
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
            if table.protocol == "few_shot":
                plot_few_shot(table, osp.join(args.out, table.slug + ".png"))
        _write(
            osp.join(args.out, "missing_runs.txt"),
            "".join(f"{run_dir}\t{reason}\n" for run_dir, reason in dict(missing).items()),
        )
        print(f"Tables written to {args.out}", file=sys.stderr)
    return 0
