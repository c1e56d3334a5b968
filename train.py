"""Train or evaluate a trainer of this project (CoOp's command line).

Same flags, same config merge order and same behaviour as CoOp's ``train.py``,
with one fix: ``--seed 0`` means seed 0 (CoOp ignores it). Works with the
real Dassl when it is installed and with the built-in engine otherwise
(see ``enprompt/dassl.py``).

Config merge order: Dassl defaults -> ``extend_cfg`` (EnPrompt keys) ->
``--dataset-config-file`` -> ``--config-file`` -> flags -> trailing
``KEY VALUE`` opts -> checks -> freeze.

Every run keeps a manifest in its output folder (``manifest.json``: config,
weights, data, versions, status, result; see ``enprompt/run/manifest.py``),
and a rerun of the same command is always safe (docs/RELIABILITY.md,
"Reusing a run folder"):

* the same experiment, finished: skipped;
* the same experiment, unfinished: resumed from its last checkpoint;
* another experiment in the folder: refused before any work, naming each
  differing key; ``--overwrite`` starts over in the folder instead;
* another process working in the folder: refused, naming it;
* ``--eval-only`` on a model whose training did not finish: refused, unless
  ``--load-epoch N`` asks for that checkpoint (the result is then partial).

Mistakes that need no model to be found (a misspelt config key or a value of
the wrong type, a YAML file with a tab, an empty config file, an empty or
missing ``--root``, a dataset folder not laid out as its reader expects, an
unknown ``--trainer``, CLIP weights that cannot be found, a mistyped
``--resume``) stop the run with one ``Error:`` line (exit status 2) before its
log is opened and its config printed (``enprompt/config_errors.py``,
``enprompt/preflight.py``).

Ctrl-C or SIGTERM stops a run with one line saying how far it got and how to
resume it (exit status 130 or 143).

One run on N processes (data parallelism, built-in engine; docs/SCALING.md)::

    torchrun --nproc_per_node N train.py <the same flags>
    srun --ntasks N python train.py <the same flags>      # N tasks of a Slurm job step

Rank 0 decides what the run does with its folder and writes the log,
checkpoints and manifest; the other processes follow its decision.
``DATALOADER.TRAIN_X.BATCH_SIZE`` is the batch of each process.

Example::

    python train.py --root $DATA --seed 1 --trainer EnPrompt \
        --dataset-config-file configs/datasets/oxford_pets.yaml \
        --config-file configs/trainers/EnPrompt/vit_b16_c4_ep5_batch4_base2new.yaml \
        --output-dir output/oxford_pets DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base
"""
import argparse
import os
import os.path as osp
import sys

# Only light imports here: the command line, the config and the run folder
# are checked, and a finished run is skipped, before PyTorch is loaded.
from enprompt.config import add_enprompt_config, check_enprompt_cfg
from enprompt.config_errors import merge_config_file, merge_opts
from enprompt.distributed import Peers, check_engine, process_group, quiet_unless_main, world_from_env
from enprompt.engine_choice import get_cfg_default, selected_engine
from enprompt.errors import UserError
from enprompt.notices import run_log_file, warnings_in_log
from enprompt.preflight import FolderArgumentError, check_resume_folder, preflight
from enprompt.run import RunSession, StoppedByMainProcess
from enprompt.run.identity import default_result_keys
from enprompt.run.checkpoints import checkpoint_file
from enprompt.run.interrupt import RunInterrupted, progress_notice, stop_on_signals


def register_project():
    """Import the dataset readers and trainers of this project, so that they
    register in the engine's registries (this loads PyTorch)."""
    import datasets.caltech101  # noqa: F401
    import datasets.dtd  # noqa: F401
    import datasets.eurosat  # noqa: F401
    import datasets.fgvc_aircraft  # noqa: F401
    import datasets.food101  # noqa: F401
    import datasets.image_folder  # noqa: F401
    import datasets.imagenet  # noqa: F401
    import datasets.imagenet_a  # noqa: F401
    import datasets.imagenet_r  # noqa: F401
    import datasets.imagenet_sketch  # noqa: F401
    import datasets.imagenetv2  # noqa: F401
    import datasets.oxford_flowers  # noqa: F401
    import datasets.oxford_pets  # noqa: F401
    import datasets.stanford_cars  # noqa: F401
    import datasets.sun397  # noqa: F401
    import datasets.ucf101  # noqa: F401
    import trainers.enprompt  # noqa: F401
    import trainers.zsclip  # noqa: F401


def collect_env_info():
    """The engine's description of the software environment (loads PyTorch)."""
    from enprompt.dassl import collect_env_info as describe

    return describe()


def print_args(args, cfg):
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def reset_cfg(cfg, args):
    """Apply the command-line flags (step 5 of the merge order)."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def extend_cfg(cfg):
    """Add the keys of this project's trainers (and DATASET.SUBSAMPLE_CLASSES)."""
    add_enprompt_config(cfg)


def setup_cfg(args):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    # A misspelt key, a value of the wrong type, a tab in a YAML file: one error naming the fix.
    if args.dataset_config_file:
        merge_config_file(cfg, args.dataset_config_file, "--dataset-config-file")
    if args.config_file:
        merge_config_file(cfg, args.config_file, "--config-file")
    reset_cfg(cfg, args)
    merge_opts(cfg, args.opts)
    # Values out of range fail here, before any data is read or any file written.
    check_enprompt_cfg(cfg)
    cfg.freeze()
    return cfg


def check_args(args):
    """Fail before any work on flag combinations that would silently do the wrong thing."""
    if args.eval_only and args.model_dir and osp.isfile(args.model_dir):
        raise FolderArgumentError(
            f'--model-dir "{args.model_dir}" is a file, but --eval-only needs a model folder: '
            "the output folder of a finished training run (the --output-dir it was trained "
            "with, which holds manifest.json and prompt_learner/model.pth.tar-N)."
        )
    if args.eval_only and args.model_dir and not osp.isdir(args.model_dir):
        raise FileNotFoundError(
            f'--model-dir "{args.model_dir}" does not exist. --eval-only needs the '
            "output folder of a finished training run (or no --model-dir for "
            "zero-shot evaluation)."
        )
    if args.resume:
        check_resume_folder(args.resume, args.output_dir)
    if args.load_epoch is not None and not args.model_dir:
        raise ValueError("--load-epoch needs --model-dir (the folder of the trained model)")


def _skip_notice(run_dir, decision):
    manifest = decision.manifest or {}
    result = manifest.get("result") or {}
    if "accuracy" in result:
        what = f"accuracy {result['accuracy']:.2f}%, {decision.reason}"
    else:
        from enprompt.logparse import find_result

        found = find_result(run_dir, test_log=(manifest.get("kind") == "eval"))
        what = f"accuracy {found.value:.2f}% in {found.log}" if found else decision.reason
    return (
        f"The results exist at {run_dir} (so skip this job): {what}. To run it again, "
        "pass --overwrite (scripts: OVERWRITE=1), which deletes the folder's results."
    )


def _record_results(trainer, session):
    """Keep the metrics of each evaluation; the last one (the final test) is the run's result."""
    evaluate = trainer.evaluator.evaluate

    def evaluate_and_record(*args, **kwargs):
        results = evaluate(*args, **kwargs)
        session.record_result(results)
        return results

    trainer.evaluator.evaluate = evaluate_and_record


def check_before_build(cfg):
    """The checks that need no model (``enprompt/preflight.py``: trainer, data root,
    dataset folder, CLIP weights), before the log is opened and the config printed."""
    from enprompt.dassl import TRAINER_REGISTRY

    register_project()
    preflight(cfg, TRAINER_REGISTRY.registered_names())


def build(cfg, args):
    """Seed, log, print the run's arguments and config, and build the trainer."""
    import torch

    from enprompt.dassl import build_trainer, set_random_seed, setup_logger

    register_project()
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)

    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True

    print_args(args, cfg)
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")
    return build_trainer(cfg)


def _final_checkpoint(cfg):
    """``(epoch, file)`` of the checkpoint a finished training deploys."""
    if cfg.TEST.FINAL_MODEL == "best_val":
        best = checkpoint_file(cfg.OUTPUT_DIR, None)
        if best:
            return None, best
    return cfg.OPTIM.MAX_EPOCH, checkpoint_file(cfg.OUTPUT_DIR, cfg.OPTIM.MAX_EPOCH)


def run(cfg, args, session):
    """Train or evaluate in the session's folder; returns the exit status."""
    trainer = None
    try:
        with stop_on_signals():
            session.begin()
            trainer = build(cfg, args)
            session.record_trainer(trainer)
            _record_results(trainer, session)
            if args.eval_only:
                trainer.load_model(args.model_dir, epoch=session.eval_epoch())
                trainer.test()
                session.finish()
            else:
                trainer.train()
                epoch, path = _final_checkpoint(cfg)
                session.finish(trainer, final_epoch=epoch, final_file=path)
    except RunInterrupted as stop:
        if session.finished:  # the signal came after the result was recorded
            return 0
        notice = progress_notice(stop, trainer, session.epochs_saved())
        print(notice, flush=True)  # to the console and the run's log
        session.interrupted(notice, epochs_done=session.epochs_saved())
        return stop.exit_code
    except BaseException as error:
        try:
            session.failed(error, epochs_done=session.epochs_saved())
        except OSError:  # e.g. the disk is full: the manifest keeps "running", a rerun resumes
            pass
        raise
    return 0


def main(args):
    """Run ``train.py`` with parsed ``args``; returns the exit status."""
    check_args(args)
    cfg = setup_cfg(args)
    world = world_from_env()
    if world.size > 1:
        return main_distributed(cfg, args, world)
    return run_in_folder(cfg, args)


def run_in_folder(cfg, args, peers=None):
    """Decide what to do with the run folder, then do it; returns the exit status.

    ``peers``: the processes of a data-parallel run (None for one process).
    """
    if args.no_train:  # CoOp's --no-train: build the trainer and stop; nothing is recorded
        check_before_build(cfg)
        build(cfg, args)
        return 0

    session = RunSession(
        cfg,
        kind="eval" if args.eval_only else "train",
        command=sys.argv,
        engine=selected_engine(),
        overwrite=args.overwrite,
        model_dir=args.model_dir if args.eval_only else "",
        explicit_epoch=args.load_epoch,
        defaults=default_result_keys(),
        peers=peers,
    )
    decision = session.open()
    try:
        if decision.action == "skip":
            print(_skip_notice(cfg.OUTPUT_DIR, decision))
            return 0
        if decision.action == "legacy":
            print(f"Warning: {decision.reason}.")
        elif decision.manifest is not None:  # resumed, started over, or evaluated again
            print(f"{decision.reason} ({cfg.OUTPUT_DIR}).")
        check_before_build(cfg)  # before anything is recorded in the folder
        return run(cfg, args, session)
    finally:
        session.close()


# --------------------------------------------------------------- data parallelism
def main_distributed(cfg, args, world):
    """One of the N processes of a data-parallel run (torchrun, or a task of a Slurm job step).

    Every process runs the same command in one process group (nccl on CUDA,
    gloo on the CPU). Rank 0 decides what the run does with its folder (skip,
    resume, start, refuse) and shares the decision, so that all of them do the
    same; a refusal on rank 0 ends the others with the same exit status. Only
    rank 0 prints to stdout and writes; the others' errors still reach stderr.
    """
    check_engine(selected_engine())  # before any work
    with quiet_unless_main(world), process_group(world, use_cuda=cfg.USE_CUDA):
        try:
            return run_in_folder(cfg, args, peers=Peers(world))
        except StoppedByMainProcess as stop:  # rank 0 said why
            return stop.exit_code


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=str, default="", help="path to dataset")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument(
        "--resume", type=str, default="",
        help="checkpoint directory (from which the training resumes)",
    )
    parser.add_argument(
        "--seed", type=int, default=None,
        help="random seed; 0 and positive values fix it, a negative value leaves "
        "the run unseeded (default: SEED from the config, -1)",
    )
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to config file")
    parser.add_argument(
        "--dataset-config-file", type=str, default="",
        help="path to config file for dataset setup",
    )
    parser.add_argument("--trainer", type=str, default="", help="name of trainer")
    parser.add_argument("--backbone", type=str, default="", help="name of CNN backbone")
    parser.add_argument("--head", type=str, default="", help="name of head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument(
        "--model-dir", type=str, default="",
        help="load model from this directory for eval-only mode",
    )
    parser.add_argument(
        "--load-epoch", type=int,
        help="load model weights at this epoch for evaluation (default: the final "
        "checkpoint of the finished training run); another epoch's result is partial",
    )
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="start over in an output folder that holds another experiment or a finished "
        "run: its results and checkpoints are deleted first (never done without this flag)",
    )
    parser.add_argument(
        "opts", default=None, nargs=argparse.REMAINDER,
        help="modify config options using the command-line",
    )
    return parser


def report_error(error):
    """Print ``Error: <message>`` to stderr, and to the run's log once it exists."""
    message = f"Error: {error}"
    print(message, file=sys.stderr)
    log_file = run_log_file()  # the run's log, once setup_logger ran
    if log_file is not None:
        try:
            log_file.write(message + "\n")
            log_file.flush()
        except OSError:  # the log's disk is full: the console has the message
            pass


# Errors whose message says what is wrong and how to fix it: reported as one
# line (also in the run's log) instead of a traceback. ENPROMPT_DEBUG=1 shows
# the traceback as well.
USER_ERRORS = (UserError, OSError, ValueError, FloatingPointError)


def cli(argv=None):
    """The command line: parse, run, and report a user's error in one line (exit status 2)."""
    try:
        with warnings_in_log():  # warnings reach log.txt too
            code = main(build_parser().parse_args(argv))
            sys.stdout.flush()  # a log that cannot be written is said here, not at exit (status 120)
            return code
    except USER_ERRORS as e:
        if os.environ.get("ENPROMPT_DEBUG"):
            raise
        report_error(e)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
