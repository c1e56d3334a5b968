"""``train.py`` in tests: its command line, and a trainer built the way it builds one.

Command lines (the arguments after ``python train.py``; every value is turned
into a string):

* ``train_argv(*opts, root=..., output_dir=..., clip_weights=..., seed=...,
  trainer=..., dataset_config=..., config_file=..., flags=...)``: CoOp's flags,
  those given, then ``flags`` (e.g. ``["--eval-only"]``), then
  ``TRAINER.ENPROMPT.CLIP_WEIGHTS`` and ``opts`` (``KEY, VALUE, ...``; a key
  given twice takes the later value, as on the command line). The defaults
  are EnPrompt on Describable Textures with the base-to-novel config.
* ``dtd_argv(root, clip_weights, output_dir, *opts, ...)``: the run the
  trainer tests share: that, with ``--seed 1``, 4 shots and no loader workers
  (``opts`` may override them).

In this process:

* ``parse_train_args(argv)``: train.py's parser applied to ``argv``;
* ``cfg_from_argv(argv)``: the config train.py runs with (parsed, merged in
  its order, checked and frozen);
* ``trainer_from_argv(argv)``: train.py's sequence without the log file:
  parse, merge the config, seed, ``build_trainer``;
* ``dtd_trainer(root, clip_weights, output_dir, *opts, ...)``:
  ``trainer_from_argv(dtd_argv(...))``;
* ``main_in_process(argv, monkeypatch)``: ``train.main`` as ``python
  train.py`` runs it, log file included, with stdout given back afterwards.

``python train.py`` in a child process: :func:`tests.child_process.run_train_py`.
"""
import sys

import train
from enprompt.dassl import build_trainer, set_random_seed
from tests.log_tee import undo_log_tee
from tests.paths import BASE2NEW_CFG, DTD_CFG

__all__ = [
    "train_argv", "dtd_argv", "parse_train_args", "cfg_from_argv", "trainer_from_argv", "dtd_trainer",
    "main_in_process",
]


def train_argv(*opts, root=None, output_dir=None, clip_weights=None, seed=None, trainer="EnPrompt",
               dataset_config=DTD_CFG, config_file=BASE2NEW_CFG, flags=()):
    """train.py's arguments: the flags whose value is not None, ``flags``, the CLIP weights, ``opts``."""
    argv = []
    for flag, value in (("--root", root), ("--seed", seed), ("--trainer", trainer),
                        ("--dataset-config-file", dataset_config), ("--config-file", config_file),
                        ("--output-dir", output_dir)):
        if value is not None:
            argv += [flag, value]
    argv += list(flags)
    if clip_weights is not None:
        argv += ["TRAINER.ENPROMPT.CLIP_WEIGHTS", clip_weights]
    return [str(a) for a in argv + list(opts)]


def dtd_argv(root, clip_weights, output_dir, *opts, seed=1, **kwargs):
    """The trainer tests' run: DTD, base-to-novel config, ``--seed 1``, 4 shots, 0 workers, then ``opts``."""
    return train_argv("DATASET.NUM_SHOTS", 4, "DATALOADER.NUM_WORKERS", 0, *opts, root=root,
                      output_dir=output_dir, clip_weights=clip_weights, seed=seed, **kwargs)


def parse_train_args(argv):
    """train.py's parser on ``argv`` (values turned into strings)."""
    return train.build_parser().parse_args([str(a) for a in argv])


def cfg_from_argv(argv):
    """train.py's config for ``argv``: ``setup_cfg`` of the parsed arguments."""
    return train.setup_cfg(parse_train_args(argv))


def trainer_from_argv(argv):
    """A trainer built as train.py builds it (same merge order and seeding), without the log file."""
    cfg = cfg_from_argv(argv)
    train.register_project()
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


def dtd_trainer(root, clip_weights, output_dir, *opts, **kwargs):
    """:func:`trainer_from_argv` of :func:`dtd_argv`."""
    return trainer_from_argv(dtd_argv(root, clip_weights, output_dir, *opts, **kwargs))


def main_in_process(argv, monkeypatch):
    """``train.main`` on ``argv`` in this process; returns what it returns.

    pip's package list is not collected (0.5 s a run, and no test's subject).
    train.py tees stdout into its log file; stdout is given back and the file
    closed afterwards, also when ``train.main`` raises.
    """
    monkeypatch.setattr(train, "collect_env_info", lambda: "(not collected in this test)")
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    try:
        return train.main(parse_train_args(argv))
    finally:
        undo_log_tee()
