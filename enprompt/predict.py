"""Classify images with a trained EnPrompt model, from the command line.

::

    python -m enprompt.predict RUN_OR_FILE IMAGE_OR_FOLDER [...] \\
        [--classes "tabby cat,golden retriever" | --classnames-file F] \\
        [--top-k K] [--json] [--batch-size N] [--device D] [--precision P] [--clip-weights PATH]

``RUN_OR_FILE`` is a finished run folder (``train.py --output-dir``, read
through its manifest) or a model file of ``python -m enprompt.export``.
Folders are searched for images (``.jpg``, ``.png``, ..., also in their
sub-folders, in sorted order), with a progress bar on stderr. Without
``--classes`` the classes are those the model was trained on (or, for an
``--eval-only`` run, evaluated on). The output is a table of the top-K
classes of each image, or one JSON object per line with ``--json``
(``image``, ``labels``, ``indices``, ``probs``). Also installed as
``enprompt-predict``. Errors are one line on stderr, exit status 2.
"""
import argparse
import json
import os.path as osp
import sys

from enprompt.choices import PRECISIONS
from enprompt.data.image_folder import IMAGE_EXTENSIONS, list_images

__all__ = ["build_parser", "main"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.predict",
        description="Classify images with a trained EnPrompt model over its own or any classes.",
    )
    parser.add_argument("model", metavar="RUN_OR_FILE",
                        help="a finished run folder, or a .safetensors file of python -m enprompt.export")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help=f"image files, or folders searched for images ({', '.join(IMAGE_EXTENSIONS)})")
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument("--classes", default=None,
                         help='class names separated by commas, e.g. "tabby cat,golden retriever" '
                         "(default: the classes the model was trained on)")
    classes.add_argument("--classnames-file", default=None, metavar="F",
                         help="a file of class names, one per line (folder<TAB>name lines give name)")
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="classes shown per image (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image and line")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cuda:1, cpu (default: cuda if available)")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="default: the run's TRAINER.ENPROMPT.PREC on a GPU, fp32 on the CPU")
    parser.add_argument("--clip-weights", default=None, metavar="PATH",
                        help="the CLIP weights file (default: the one the run read, else the CLIP cache)")
    return parser


def _images(args):
    paths, folders = [], False
    for given in args.images:
        if osp.isdir(given):
            found = list_images(given, recursive=True)
            if not found:
                raise FileNotFoundError(f'The folder "{given}" holds no images ({", ".join(IMAGE_EXTENSIONS)})')
            paths.extend(found)
            folders = True
        else:
            paths.append(given)
    return paths, folders


def _classifier(args):
    from enprompt.inference import EnPromptClassifier

    options = dict(clip_weights=args.clip_weights, device=args.device, precision=args.precision,
                   batch_size=args.batch_size)
    if osp.isdir(args.model):
        return EnPromptClassifier.from_run(args.model, **options)
    if osp.isfile(args.model):
        return EnPromptClassifier.from_file(args.model, **options)
    raise FileNotFoundError(f'"{args.model}" is neither a run folder nor a model file')


def _class_list(args):
    from enprompt.inference.class_list import read_class_list, split_class_list

    if args.classes is not None:
        return split_class_list(args.classes)
    if args.classnames_file is not None:
        return read_class_list(args.classnames_file)
    return None


def format_table(predictions):
    """The predictions as a table: the top classes of each image, one per row."""
    from tabulate import tabulate

    rows = []
    for pred in predictions:
        for rank, (label, prob) in enumerate(zip(pred.labels, pred.probs)):
            rows.append([pred.image if rank == 0 else "", label, f"{100 * prob:.1f}%"])
    return tabulate(rows, headers=["image", "class", "prob"], colalign=("left", "left", "right"))


def predict(args):
    paths, folders = _images(args)
    classes = _class_list(args)
    clf = _classifier(args)
    if classes is not None:
        clf.set_classes(classes)
    predictions = clf.predict(paths, top_k=args.top_k, progress=folders)
    if args.json:
        for pred in predictions:
            print(json.dumps(pred.to_dict()))
    else:
        print(format_table(predictions))
    return 0


def main(argv=None):
    from enprompt.inference.cli import run_reporting_errors

    return run_reporting_errors(predict, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
