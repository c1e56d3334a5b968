"""When a checkpoint is *good*: finite and not diverging.

A checkpoint is good when

1. every floating-point tensor of its ``state_dict`` (the weights a trainer
   registers and saves: for EnPrompt, the learned EnLa, visual prompts and
   strengthening projections) is finite, and
2. none of them holds a value larger than :data:`MAX_GOOD_WEIGHT` (1e6) in
   absolute value, and
3. every loss of the epochs it holds was finite. The trainers check each
   batch's loss before the update (``detect_anomaly``), and a non-finite one
   stops the run, so no checkpoint is written after it: an epoch that was
   saved had a finite mean loss.

The bound of rule 2 is far beyond any healthy run: learned prompts and
layers are of order 1, and fp16 cannot even hold 6.6e4. A too high learning
rate (``OPTIM.LR 1e8``) sends weights to 1e22 in one epoch while the loss
stays finite; such a run is stopped at the end of the epoch, before its
checkpoint is written, so the previous (good) one stays the newest.

Rules 1 and 2 are checked before every epoch checkpoint and best-val model
is saved, when a run resumes from a checkpoint, and when an error names "the
last good checkpoint" (:func:`last_good_checkpoint`), so a diverged one is
never called good.
"""
import math
import os.path as osp

import torch

from enprompt.checkpoint_layout import checkpoint_name, saved_epochs
from enprompt.errors import UserError

__all__ = ["MAX_GOOD_WEIGHT", "TrainingDiverged", "weights_problem", "last_good_checkpoint"]

#: The largest absolute weight a good checkpoint holds.
MAX_GOOD_WEIGHT = 1e6


class TrainingDiverged(UserError, FloatingPointError):
    """The loss turned NaN or infinite, or the weights left the good range; the
    message names the last good checkpoint and how to rerun."""


def weights_problem(state_dict):
    """Why ``state_dict`` is not good (rules 1 and 2), or None when it is.

    Returns:
        str or None: e.g. ``"enla.fc1.weight reaches 5.2e+22"`` or
        ``"visual_prompts holds NaN or infinite values"``.
    """
    worst_name, worst = None, 0.0
    for name, value in state_dict.items():
        if not (torch.is_tensor(value) and value.is_floating_point()) or value.numel() == 0:
            continue
        largest = float(value.detach().abs().max())
        if not math.isfinite(largest):  # max() propagates NaN
            return f"{name} holds NaN or infinite values"
        if largest > worst:
            worst_name, worst = name, largest
    if worst > MAX_GOOD_WEIGHT:
        return f"{worst_name} reaches {worst:.2g}"
    return None


def last_good_checkpoint(folder, load):
    """The newest good ``model.pth.tar-N`` in ``folder`` (one model's folder).

    Args:
        folder (str): e.g. ``<output_dir>/prompt_learner``.
        load (callable): reads a checkpoint file (``load_checkpoint``).

    Returns:
        (path, epoch) or (None, None).
    """
    for epoch in reversed(saved_epochs(folder)):
        path = osp.join(folder, checkpoint_name(epoch))
        try:
            state_dict = load(path)["state_dict"]
        except (OSError, RuntimeError, KeyError, TypeError):
            continue  # unreadable: not good either
        if weights_problem(state_dict) is None:
            return path, epoch
    return None, None
