"""Command line for dataset preparation.

Usage::

    python -m enprompt.data download-splits oxford_pets dtd --root $DATA
    python -m enprompt.data download-splits all --root $DATA
    python -m enprompt.data check --root $DATA              # all 15 datasets
    python -m enprompt.data check --root $DATA imagenet dtd
    python -m enprompt.data check image_folder --root $DATA --dir my_photos --shots 16

(also installed as ``enprompt-data``). Dataset names are the config basenames
of ``configs/datasets/``; ``image_folder`` is a folder of your own images
(``DATASET.IMAGE_FOLDER.DIR``, given with ``--dir``). ``check`` exits with
status 1 when a dataset is not ready, printing each problem with its fix; see
docs/DATASETS.md. Neither command imports PyTorch.
"""
import argparse
import sys

from .catalog import LAYOUTS
from .checks import find_problems
from .download import DownloadError, download_splits
from .image_folder import IMAGE_FOLDER_NAME, image_folder_layout

__all__ = ["main"]


def _dataset_names(names, image_folder=False):
    if not names or names == ["all"]:
        return list(LAYOUTS)
    known = list(LAYOUTS) + ([IMAGE_FOLDER_NAME] if image_folder else [])
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(
            f"error: unknown dataset(s) {', '.join(unknown)}; choose from "
            f"{', '.join(known)} (or all)"
        )
    return names


def _layout(name, args):
    if name != IMAGE_FOLDER_NAME:
        return LAYOUTS[name]
    if not args.dir:
        raise SystemExit(
            "error: image_folder needs --dir, the folder of your images (DATASET.IMAGE_FOLDER.DIR, "
            "relative to --root or absolute)"
        )
    return image_folder_layout(args.dir)


def _cmd_download(args):
    try:
        download_splits(_dataset_names(args.datasets), args.root, quiet=args.quiet)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_check(args):
    names = _dataset_names(args.datasets, image_folder=True)
    if not args.root and any(name != IMAGE_FOLDER_NAME for name in names):
        raise SystemExit("error: --root (the data root, DATASET.ROOT) is required")
    not_ready = []
    for name in names:
        layout = _layout(name, args)
        problems = find_problems(layout, args.root, deep=not args.quick, shots=args.shots)
        if not problems:
            print(f"{name}: ready")
            continue
        not_ready.append(name)
        print(f"{name}: NOT READY ({layout.docs})")
        for problem in problems:
            print(f"  - {problem.path}: {problem.problem}")
            print(f"    fix: {problem.fix}")
    if not_ready:
        print(f"\n{len(not_ready)} dataset(s) not ready: {', '.join(not_ready)}")
        return 1
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.data",
        description="Prepare and check the datasets of the CoOp-family benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    names_help = f"dataset names ({', '.join(LAYOUTS)}), or all"

    download = sub.add_parser(
        "download-splits",
        help="download the published split files and other small files from Google Drive",
        description="Download the published split_zhou_*.json files, ImageNet's "
                    "classnames.txt, Flowers' cat_to_name.json and UCF101's middle frames. "
                    "Files already present are skipped.",
    )
    download.add_argument("datasets", nargs="+", metavar="DATASET", help=names_help)
    download.add_argument("--root", required=True, help="data root (DATASET.ROOT)")
    download.add_argument("--quiet", action="store_true", help="no progress bars")
    download.set_defaults(func=_cmd_download)

    check = sub.add_parser(
        "check",
        help="check that dataset folders are prepared (exit status 1 if not)",
        description="Report, per dataset, whether its folder is ready and what is missing.",
    )
    check.add_argument("datasets", nargs="*", metavar="DATASET",
                       help=names_help + f" (default: all), or {IMAGE_FOLDER_NAME} with --dir")
    check.add_argument("--root", default="",
                       help="data root (DATASET.ROOT); may be left out for an absolute --dir")
    check.add_argument("--dir", default="",
                       help=f"{IMAGE_FOLDER_NAME}: your image folder (DATASET.IMAGE_FOLDER.DIR), "
                       "relative to --root or absolute")
    check.add_argument("--shots", type=int, default=0, metavar="K",
                       help=f"{IMAGE_FOLDER_NAME}: also report the classes with fewer than K "
                       "training images (DATASET.NUM_SHOTS K)")
    check.add_argument("--quick", action="store_true",
                       help="skip the published split file and the images it names; for "
                       f"{IMAGE_FOLDER_NAME}, skip decoding every image")
    check.set_defaults(func=_cmd_check)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
