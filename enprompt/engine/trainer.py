"""Trainers with Dassl's loop, method names and log lines (``dassl.engine.trainer``).

The loop, as in Dassl::

    train():  before_train()                      # resume, tensorboard, timer
              for epoch in [start_epoch, max_epoch):
                  before_epoch()
                  run_epoch()                     # forward_backward(batch) per batch
                  after_epoch()                   # checkpoint (and best-val test)
              after_train()                       # "Finish training", final test

A method (e.g. ``trainers/enprompt.py``) implements ``build_model`` (and
registers its models with ``register_model``), ``forward_backward`` and
optionally ``check_cfg``, ``parse_batch_train``, ``model_inference``,
``load_model``. By the CoOp-family convention a method calls
``self.update_lr()`` inside ``forward_backward`` after the epoch's last batch
(``self.batch_idx + 1 == self.num_batches``), so schedules are per epoch.

Data parallelism (several processes, :mod:`enprompt.distributed`): each
process trains on its shard of every global batch and evaluates its shard of
the test set, whose predictions are gathered before the evaluator counts them;
the loss summary is averaged over the processes; only rank 0 writes
tensorboard and checkpoints (and, in ``train.py``, the log and the manifest).
"""
import datetime
import os.path as osp
import time
from collections import OrderedDict

import numpy as np
import torch
from tqdm import tqdm

from enprompt import distributed

from .checkpoint_mixin import CheckpointMixin
from .data import DataManager
from .evaluator import build_evaluator
from .meters import AverageMeter, MetricMeter
from .registry import Registry, build_registered
from .tools import mkdir_if_missing, set_random_seed, tolist_if_not

__all__ = ["TRAINER_REGISTRY", "build_trainer", "TrainerBase", "SimpleTrainer", "TrainerX"]

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg):
    """Instantiate the trainer registered under ``cfg.TRAINER.NAME``."""
    return build_registered(TRAINER_REGISTRY, cfg.TRAINER.NAME, cfg, "trainer")


class TrainerBase(CheckpointMixin):
    """Registered models with their optimisers and schedulers, and the epoch loop.

    Saving, resuming, loading, ``after_epoch`` and ``detect_anomaly`` come from
    :class:`~enprompt.engine.checkpoint_mixin.CheckpointMixin`, which the real
    Dassl's ``TrainerX`` also gets (see :mod:`enprompt.dassl`).
    """

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None

    def register_model(self, name="model", model=None, optim=None, sched=None):
        """Register ``model`` so that saving, loading, LR steps and mode switches include it."""
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot register a model before super().__init__() is called")
        if name in self._models:
            raise KeyError(f'A model named "{name}" is already registered')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None):
        names_real = list(self._models.keys())
        if names is None:
            return names_real
        names = tolist_if_not(names)
        for name in names:
            if name not in names_real:
                raise KeyError(f'No model named "{name}"; registered: {names_real}')
        return names

    def set_model_mode(self, mode="train", names=None):
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"Unknown model mode {mode!r}: use 'train', 'test' or 'eval'")

    def update_lr(self, names=None):
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def init_writer(self, log_dir):
        if self.__dict__.get("_writer") is None:
            from torch.utils.tensorboard import SummaryWriter

            print(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag, scalar_value, global_step=None):
        # The writer exists only while training.
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch, max_epoch):
        """The generic loop (see the module docstring)."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Data loaders, model, evaluator, resume, checkpoints and the final test."""

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)
        if torch.cuda.is_available() and cfg.USE_CUDA:
            self.device = torch.device("cuda")
        else:
            self.device = torch.device("cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf

    def check_cfg(self, cfg):
        """Check the config for this trainer (optional; raise ValueError when wrong)."""

    def build_data_loader(self):
        """Create ``train_loader_x``, ``train_loader_u``, ``val_loader``, ``test_loader``,
        ``num_classes``, ``num_source_domains``, ``lab2cname`` and ``dm``."""
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        """Build and register the model(s); every method overrides this."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement build_model() and register its models"
        )

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self):
        if distributed.is_distributed():
            size, batch = distributed.get_world_size(), self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE
            print(f"Data parallel: {size} processes x batch {batch} = global batch {size * batch} "
                  f"(OPTIM.LR {self.cfg.OPTIM.LR} as configured, not rescaled)")
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        if distributed.is_main_process():
            writer_dir = osp.join(self.output_dir, "tensorboard")
            mkdir_if_missing(writer_dir)
            self.init_writer(writer_dir)
        self.time_start = time.time()

    def before_epoch(self):
        """Data-parallel runs: seed the epoch's random streams from the epoch itself.

        The shuffle (``set_epoch``: one permutation, the same on every
        process) and each process's augmentations (seeded by seed, epoch and
        rank) then depend on nothing that came before, so a resumed run draws
        what the uninterrupted one drew. A single process keeps Dassl's one
        stream, whose state each checkpoint saves instead.
        """
        if not distributed.is_distributed():
            return
        sampler = self.train_loader_x.sampler
        sampler.set_epoch(self.epoch)
        seed = np.random.SeedSequence([sampler.seed, self.epoch, distributed.get_rank()])
        set_random_seed(int(seed.generate_state(1)[0]))

    def after_train(self):
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate on ``split`` (``TEST.SPLIT`` by default; test if there is no val)."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        print(f"Evaluate on the *{split}* set")
        # Several processes: each has a shard; the evaluator gathers them.
        for batch in tqdm(data_loader, disable=not distributed.is_main_process()):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None):
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """A trainer over labelled data only (``train_loader_x``)."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            loss_summary = distributed.mean_over_processes(self.forward_backward(batch))
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            meet_freq = (self.batch_idx + 1) % print_freq == 0
            only_few_batches = self.num_batches < print_freq
            if meet_freq or only_few_batches:
                nb_remain = self.num_batches - self.batch_idx - 1
                nb_remain += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * nb_remain)))
                print(" ".join([
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {eta}",
                ]))

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()

    def parse_batch_train(self, batch):
        return (
            batch["img"].to(self.device),
            batch["label"].to(self.device),
            batch["domain"].to(self.device),
        )
