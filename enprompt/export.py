"""Export the trained model of a run folder to one small ``.safetensors`` file.

::

    python -m enprompt.export RUN_DIR OUT.safetensors

The file (:mod:`enprompt.inference.model_file`) holds the learnable tensors
and what rebuilds the model: backbone, ``TRAINER.ENPROMPT`` settings,
templates, the class names trained on, the test transform's ``INPUT``
settings and the CLIP weights' SHA256. Load it with
``EnPromptClassifier.from_file(OUT)`` or ``python -m enprompt.predict OUT ...``.
No CLIP weights are loaded to export.

A run folder written before runs recorded a manifest is exported from the
config of its training, given again as to ``train.py`` (run from the
repository root, whose ``datasets/`` readers give its class names)::

    python -m enprompt.export RUN_DIR OUT.safetensors --root $DATA --seed S \\
        --config-file configs/trainers/EnPrompt/<cfg>.yaml \\
        --dataset-config-file configs/datasets/<dataset>.yaml \\
        [--classes "a,b,c" | --classnames-file F] [--load-epoch N] [KEY VALUE ...]

Also installed as ``enprompt-export``. Errors are one line on stderr, exit status 2.
"""
import argparse
import os.path as osp
import sys

__all__ = ["build_parser", "export_run", "main"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.export",
        description="Export the trained EnPrompt model of a run folder to a .safetensors file.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished training run folder (train.py --output-dir)")
    parser.add_argument("out", metavar="OUT.safetensors", help="the model file to write")
    legacy = parser.add_argument_group(
        "a run folder without manifest.json: the config of its training, as given to train.py"
    )
    legacy.add_argument("--config-file", default="", help="its --config-file")
    legacy.add_argument("--dataset-config-file", default="", help="its --dataset-config-file")
    legacy.add_argument("--root", default="", help="its --root (the classes are read from the dataset)")
    legacy.add_argument("--seed", type=int, default=None, help="its --seed")
    legacy.add_argument("--classes", default=None, help='or its class names, in label order: "a,b,c"')
    legacy.add_argument("--classnames-file", default=None, metavar="F",
                        help="or a file of its class names, one per line, in label order")
    legacy.add_argument("--load-epoch", type=int, default=None, metavar="N",
                        help="the checkpoint model.pth.tar-N to export (default: the last)")
    legacy.add_argument("opts", nargs="*", metavar="KEY VALUE",
                        help="its config options (e.g. DATASET.SUBSAMPLE_CLASSES base)")
    return parser


def _legacy_cfg(args):
    """The config as train.py resolves it: defaults, EnPrompt keys, dataset and
    trainer configs, --root, options."""
    from enprompt.config import add_enprompt_config
    from enprompt.config_errors import merge_config_file, merge_opts
    from enprompt.engine_choice import get_cfg_default

    cfg = add_enprompt_config(get_cfg_default())
    for flag, path in (("--dataset-config-file", args.dataset_config_file),
                       ("--config-file", args.config_file)):
        merge_config_file(cfg, path, flag)
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.seed is not None:
        cfg.SEED = args.seed
    merge_opts(cfg, args.opts)
    cfg.TRAINER.NAME = "EnPrompt"
    cfg.freeze()
    return cfg


def _legacy_classnames(args, cfg):
    from enprompt.inference.class_list import read_class_list, split_class_list

    if args.classes is not None:
        return split_class_list(args.classes)
    if args.classnames_file is not None:
        return read_class_list(args.classnames_file)
    if not args.root:
        raise ValueError(
            "give the class names of the training: --root DATA (read from the dataset), "
            "--classes or --classnames-file"
        )
    try:
        import datasets  # noqa: F401  (the repository's readers register themselves)
    except ImportError as e:
        raise ValueError(
            "the dataset readers (the repository's datasets/ folder) cannot be imported: run "
            "this from the repository root, or give --classes or --classnames-file"
        ) from e
    from enprompt.dassl import build_dataset, set_random_seed

    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)  # as train.py, should a split or few-shot sample be drawn
    return build_dataset(cfg).classnames


def export_run(args):
    """Read the run's model (through its manifest, or the config given) and write it."""
    from enprompt.inference.model_file import save_model_file
    from enprompt.inference.run_folder import read_run, read_run_with_config

    if args.config_file or args.dataset_config_file:
        if not (args.config_file and args.dataset_config_file):
            raise ValueError("give both --config-file and --dataset-config-file of the training")
        cfg = _legacy_cfg(args)
        model = read_run_with_config(args.run_dir, cfg, _legacy_classnames(args, cfg), args.load_epoch)
    else:
        model = read_run(args.run_dir)
    save_model_file(model, args.out)
    size = osp.getsize(args.out) / 2**20
    print(
        f"Exported {model.source.get('checkpoint')} ({model.backbone}, {len(model.classnames)} "
        f"classes) to {args.out} ({size:.1f} MB)"
    )
    return 0


def main(argv=None):
    from enprompt.inference.cli import run_reporting_errors

    return run_reporting_errors(export_run, build_parser().parse_intermixed_args(argv))


if __name__ == "__main__":
    sys.exit(main())
