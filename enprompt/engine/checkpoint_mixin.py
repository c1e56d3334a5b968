"""The checkpoint behaviour of a trainer, the same on both engines.

:class:`CheckpointMixin` holds every trainer method that writes or reads a
checkpoint, with Dassl's names: ``save_model``, ``resume_model_if_exist``,
``load_model``, ``after_epoch`` (the epoch checkpoint and the best-val model)
and ``detect_anomaly`` (which stops a diverging run before it overwrites its
last good checkpoint). What makes a checkpoint good is
:mod:`.checkpoint_health`: finite weights of at most 1e6, saved after finite
losses only; a run whose weights leave that range stops before saving. It
is the first base of the built-in ``TrainerBase`` and, when the real Dassl is used, of ``enprompt.dassl.TrainerX`` (Dassl's
``TrainerX`` with this mixin in front), so both engines write the same
atomic, weights-only-loadable files, resume from any finished epoch and load
a trained model with the same checks (:func:`check_fits`, also used by
``enprompt.inference`` for models loaded outside a trainer).

A method adapts the messages to its own config keys through two class
attributes, ``loss_anomaly_hint`` and ``checkpoint_mismatch_hint``; the
engine names none.

In a data-parallel run (:mod:`enprompt.distributed`) every process takes the
same steps here, and only rank 0 writes: the others wait until its files are
complete, then read the same ones (resume, best model). A non-finite loss
stops every process together.
"""
import os
import os.path as osp

import torch

from enprompt import distributed
from enprompt.run.decision import OVERWRITE_HINT

from .checkpoint import (
    EPOCH_PREFIX,
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    resume_from_checkpoint,
    save_checkpoint,
)
from .checkpoint_health import MAX_GOOD_WEIGHT, TrainingDiverged, last_good_checkpoint, weights_problem
from .rng_state import get_rng_state
from .torchtools import check_finite_loss

__all__ = ["CheckpointMixin", "check_fits"]


def _check_meta(saved, current, path):
    """Raise ValueError if the checkpoint names another trainer or backbone.

    Checkpoints without ``meta`` (written elsewhere) are checked by shape only.
    """
    if not saved:
        return
    for key in ("trainer", "backbone"):
        if key in saved and saved[key] != current[key]:
            flag = "--trainer" if key == "trainer" else "MODEL.BACKBONE.NAME (--backbone)"
            raise ValueError(
                f'The checkpoint "{path}" was trained with {key} {saved[key]!r}, but this '
                f"run uses {current[key]!r}. Evaluate it with the same {flag} as in training."
            )


def check_fits(module, state_dict, path, what, hint):
    """Raise ValueError unless ``state_dict`` has exactly ``module``'s keys and shapes."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and tuple(state_dict[key].shape) != tuple(value.shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    details = []
    if mismatched:
        details.append("shape mismatch: " + "; ".join(mismatched))
    if missing:
        details.append(f"missing from the checkpoint: {missing}")
    if unexpected:
        details.append(f"not in this model: {unexpected}")
    raise ValueError(f'The checkpoint "{path}" does not fit this {what} model ({" | ".join(details)}). {hint}')


class CheckpointMixin:
    """Save, resume and load the registered models; stop on a non-finite loss.

    Needs the attributes of Dassl's ``SimpleTrainer``: ``cfg``, ``output_dir``,
    ``epoch``, ``max_epoch``, ``best_result``, ``test(split)`` and the model
    registry (``get_model_names``, ``_models``, ``_optims``, ``_scheds``).
    """

    #: In the error of a NaN or infinite loss or of diverged weights: what the user can change.
    loss_anomaly_hint = "Try a lower OPTIM.LR."
    #: Appended to the error of a checkpoint whose parameters do not fit the model.
    checkpoint_mismatch_hint = (
        "It was trained with another backbone, another trainer or other model settings; "
        "evaluate it with the same --config-file and MODEL.BACKBONE.NAME as in training."
    )

    def checkpoint_meta(self):
        """What produced a checkpoint: trainer and backbone names (checked when loading)."""
        return {"trainer": self.cfg.TRAINER.NAME, "backbone": self.cfg.MODEL.BACKBONE.NAME}

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        if not distributed.is_main_process():  # rank 0 writes; the others wait for it below
            distributed.barrier()
            return
        try:
            rng_state = get_rng_state()
            for name in self.get_model_names():
                optim, sched = self._optims[name], self._scheds[name]
                save_checkpoint(
                    {
                        "state_dict": self._models[name].state_dict(),
                        "epoch": epoch + 1,
                        "optimizer": optim.state_dict() if optim is not None else None,
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "val_result": val_result,
                        "rng_state": rng_state,
                        "meta": self.checkpoint_meta(),
                    },
                    osp.join(directory, name),
                    is_best=is_best,
                    model_name=model_name,
                )
        finally:
            distributed.barrier()

    def resume_model_if_exist(self, directory):
        names = self.get_model_names()
        if any(latest_checkpoint(osp.join(directory, name)) is None for name in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name],
                self._scheds[name],
            )
        problem = self._weights_problem()
        if problem:  # e.g. written by a version that saved diverged weights
            raise TrainingDiverged(
                f"The checkpoint to resume from in {directory} (epoch {start_epoch}) is not "
                f"good: {problem}. {self._stop_advice()}"
            )
        self._resume_point_epoch = start_epoch
        return start_epoch

    def load_model(self, directory, epoch=None):
        """Load ``<directory>/<name>/model.pth.tar-<epoch>`` (``model-best.pth.tar``
        when ``epoch`` is None) into each registered model, strictly.

        Each checkpoint must name this run's trainer and backbone (when it
        records them) and hold exactly the model's parameter names and
        shapes; otherwise nothing is loaded and the error says what differs.
        The model may be built for other classes than the checkpoint was
        trained on, as long as no saved parameter depends on the class count
        (base-to-new evaluation).
        """
        if not directory:
            print(
                "Note that load_model() is skipped as no pretrained model is given "
                "(ignore this if it's done on purpose)"
            )
            return
        trainer = type(self).__name__
        if not osp.isdir(directory):
            raise FileNotFoundError(
                f'Model directory "{directory}" does not exist. Pass the --output-dir '
                f"of a finished {trainer} training run as --model-dir."
            )
        loaded = {}
        for name in self.get_model_names():
            folder = osp.join(directory, name)
            model_path = osp.join(folder, checkpoint_name(epoch))
            if not osp.isfile(model_path):
                available = list_checkpoints(folder)
                hint = (
                    f"available in {folder}: {available}; pass --load-epoch N for "
                    f"{EPOCH_PREFIX}N" if available
                    else f"{folder} holds no checkpoint; was {directory} trained with the "
                    f"{trainer} trainer and did the training finish?"
                )
                raise FileNotFoundError(f'No checkpoint "{model_path}" ({hint})')
            checkpoint = load_checkpoint(model_path)
            _check_meta(checkpoint.get("meta"), self.checkpoint_meta(), model_path)
            check_fits(self._models[name], checkpoint["state_dict"], model_path, trainer,
                        self.checkpoint_mismatch_hint)
            loaded[name] = (model_path, checkpoint)
        for name, (model_path, checkpoint) in loaded.items():  # all checked: nothing half-loaded
            print(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})')
            self._models[name].load_state_dict(checkpoint["state_dict"], strict=True)

    def _keeps_checkpoint(self, epoch):
        """Whether Dassl would keep ``model.pth.tar-<epoch>`` (1-based epoch)."""
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        return epoch == self.max_epoch or (freq > 0 and epoch % freq == 0)

    def save_epoch_checkpoint(self):
        """Save the epoch just finished; keep exactly the files Dassl keeps.

        Dassl saves only every ``TRAIN.CHECKPOINT_FREQ`` epochs and the last
        one, so a run killed in between restarts from scratch. Here every
        epoch is saved as a resume point, and the previous resume point is
        deleted once the new one is complete, unless Dassl would have kept it.
        A finished run's folder therefore holds the same files as with Dassl,
        and a killed run resumes from its last complete epoch.
        """
        done = self.epoch + 1
        self.save_model(self.epoch, self.output_dir)
        previous = getattr(self, "_resume_point_epoch", None)
        if (previous and previous != done and not self._keeps_checkpoint(previous)
                and distributed.is_main_process()):
            for name in self.get_model_names():
                stale = osp.join(self.output_dir, name, checkpoint_name(previous))
                if osp.isfile(stale):
                    os.remove(stale)
        self._resume_point_epoch = done

    def after_epoch(self):
        """Best-val evaluation (``TEST.FINAL_MODEL best_val``) and the epoch checkpoint.

        As Dassl's ``SimpleTrainer.after_epoch``: with ``best_val`` the model
        is tested on the val split and saved as ``model-best.pth.tar`` when it
        beats the best result so far. The epoch checkpoint follows
        :meth:`save_epoch_checkpoint`. Weights that are not good
        (:mod:`.checkpoint_health`) stop the run first, so nothing diverged
        is ever saved.
        """
        self.check_weights()
        if not self.cfg.TEST.NO_TEST and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(
                    self.epoch, self.output_dir, val_result=curr_result,
                    model_name=checkpoint_name(None),
                )
        self.save_epoch_checkpoint()

    def _weights_problem(self):
        for name in self.get_model_names():
            problem = weights_problem(self._models[name].state_dict())
            if problem:
                return f"{name}'s {problem}"
        return None

    def _where(self):
        """``"at epoch 3/12, batch 1/3"`` while training ("" before)."""
        if not (hasattr(self, "batch_idx") and hasattr(self, "num_batches")):
            return ""
        return (f"at epoch {self.epoch + 1}/{self.max_epoch}, "
                f"batch {self.batch_idx + 1}/{self.num_batches}")

    def _stop_advice(self):
        """The last good checkpoint, what to change and how to rerun with it."""
        last = None
        if getattr(self, "output_dir", None):
            for name in self.get_model_names():
                path, epoch = last_good_checkpoint(osp.join(self.output_dir, name), load_checkpoint)
                last = (path, epoch) if path else last
        kept = (f'The last good checkpoint, "{last[0]}" (epoch {last[1]}), is kept.' if last
                else "No good checkpoint had been written.")
        return (
            f"{kept} {self.loss_anomaly_hint} Another value is another experiment: to rerun "
            f"with it, {OVERWRITE_HINT}. (Rerunning the same command resumes with the same "
            "settings, and stops the same way.)"
        )

    def check_weights(self):
        """Raise :class:`TrainingDiverged` unless every registered model's weights
        are finite and at most ``MAX_GOOD_WEIGHT`` (before a checkpoint is saved)."""
        problem = self._weights_problem()
        if problem is None:
            return
        raise TrainingDiverged(
            f"Training diverged in epoch {self.epoch + 1}/{self.max_epoch}: {problem} "
            f"(the weights of a good checkpoint are finite and at most {MAX_GOOD_WEIGHT:g}), "
            f"so epoch {self.epoch + 1} is not saved. {self._stop_advice()}"
        )

    def detect_anomaly(self, loss, terms=None):
        """Raise :class:`TrainingDiverged` (a ``FloatingPointError``) if ``loss`` is NaN
        or infinite.

        The message names the epoch, the batch, each loss term in ``terms``
        ({name: tensor or float}), the last good checkpoint, which is left
        untouched (nothing is saved after a non-finite loss),
        ``loss_anomaly_hint`` and how to rerun with another setting. In a
        data-parallel run every process stops when the loss is not finite on
        any of them, and the terms named are those of the global batch (their
        mean over the processes).
        """
        if distributed.all_finite(loss):
            return
        if distributed.is_distributed():
            names = list(terms or {})
            values = [loss] + [terms[n] for n in names]
            reduced = distributed.mean_over_processes(
                {i: float(torch.as_tensor(v).detach()) for i, v in enumerate(values)})
            loss = torch.tensor(reduced[0])
            terms = {n: reduced[i + 1] for i, n in enumerate(names)} or None
        try:
            check_finite_loss(loss, terms, where=self._where())
        except FloatingPointError as e:
            raise TrainingDiverged(f"{e} {self._stop_advice()}") from None
