"""Probing a trainer built in this process (e.g. by :func:`tests.train_py.dtd_trainer`).

* ``KilledJob`` and ``train_until_killed(trainer, in_epoch)``: ``trainer.train()``,
  stopped the way a killed job stops: at the start of the 0-based epoch
  ``in_epoch``, when every earlier epoch has finished and written what its
  ``after_epoch`` writes (checkpoint, pointer) and nothing of epoch
  ``in_epoch`` has run. The same command run again must resume.
* ``record_results(obj, name)``: replaces the method ``name`` of the instance
  ``obj`` by one that calls the original and appends each result to a list;
  returns the list. E.g. ``steps = record_results(trainer, "forward_backward")``
  gives the loss summary of every training step.
* ``logits_on_test_set(trainer)``: the model's logits on every test image
  and the labels, in loader order (eval mode, no grad), as ``trainer.test()``
  sees them.
* ``top1_accuracy(logits, labels)``: in percent, counted from the predictions.
"""
import pytest
import torch

__all__ = ["KilledJob", "train_until_killed", "record_results", "logits_on_test_set", "top1_accuracy"]


class KilledJob(Exception):
    """Stands for the job being killed (see :func:`train_until_killed`)."""


def train_until_killed(trainer, in_epoch):
    """Train ``trainer`` until the start of 0-based epoch ``in_epoch``, then stop as if killed."""
    real_run_epoch = trainer.run_epoch

    def run_epoch_unless_killed():
        if trainer.epoch == in_epoch:
            raise KilledJob
        real_run_epoch()

    trainer.run_epoch = run_epoch_unless_killed
    try:
        with pytest.raises(KilledJob):
            trainer.train()
    finally:
        del trainer.run_epoch  # the class's method again


def record_results(obj, name):
    """Make ``obj.<name>`` record what it returns; returns the list it appends to."""
    results = []
    real = getattr(obj, name)

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        results.append(result)
        return result

    setattr(obj, name, recording)
    return results


def logits_on_test_set(trainer):
    """``(logits, labels)`` of every test image, in loader order."""
    trainer.set_model_mode("eval")
    logits, labels = [], []
    with torch.no_grad():
        for batch in trainer.test_loader:
            logits.append(trainer.model_inference(batch["img"]))
            labels.append(batch["label"])
    return torch.cat(logits), torch.cat(labels)


def top1_accuracy(logits, labels):
    """Top-1 accuracy in percent, counted from the predictions."""
    return 100.0 * (logits.argmax(dim=1) == labels).sum().item() / len(labels)
