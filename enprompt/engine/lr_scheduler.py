"""Learning-rate schedulers with Dassl's semantics, working on current PyTorch.

``build_lr_scheduler(optimizer, optim_cfg)`` builds ``single_step``
(``StepLR``), ``multi_step`` (``MultiStepLR``) or ``cosine``
(``CosineAnnealingLR(T_max=MAX_EPOCH)``), optionally wrapped in a constant or
linear warm-up, exactly as ``dassl.optim.lr_scheduler`` does. Two fixes:
Dassl's warm-up classes pass ``verbose`` positionally (a ``TypeError`` on
recent PyTorch), and their state dict embeds the successor scheduler object,
which ``torch.load(weights_only=True)`` refuses; here the successor is saved
as its own state dict.

**Stepping convention.** CoOp-family trainers call ``update_lr()`` once per
epoch, after the last batch. With ``WARMUP_EPOCH=1`` (constant, ``1e-5``) and
``cosine`` the learning rate of 1-based epoch ``k`` is therefore ``1e-5`` for
``k = 1`` and ``LR * (1 + cos(pi * (k - 2) / MAX_EPOCH)) / 2`` for ``k >= 2``:
e.g. 1e-5, 0.0035, 0.003166, 0.002291, 0.001209 for LR 0.0035 and 5 epochs.
"""
import torch
from torch.optim.lr_scheduler import LRScheduler

from .legacy_checkpoint import LegacyObject

__all__ = [
    "AVAI_SCHEDS",
    "ConstantWarmupScheduler",
    "LinearWarmupScheduler",
    "build_lr_scheduler",
]

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]
AVAI_WARMUP_TYPES = ["constant", "linear"]


class _WarmupScheduler(LRScheduler):
    """Run a warm-up for ``warmup_epoch`` steps, then hand over to ``successor``."""

    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return self.warmup_lr()

    def warmup_lr(self):
        raise NotImplementedError

    def step(self, epoch=None):
        if epoch is not None:
            raise ValueError("Warm-up schedulers are stepped without an epoch argument")
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step()
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        successor = state.pop("successor", None)
        if isinstance(successor, LegacyObject):  # written by Dassl itself
            successor = {k: v for k, v in successor.state.items() if k != "optimizer"}
        self.__dict__.update(state)
        if successor is not None:
            self.successor.load_state_dict(successor)


class ConstantWarmupScheduler(_WarmupScheduler):
    """Constant learning rate ``cons_lr`` during warm-up."""

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr, last_epoch=-1):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self):
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_WarmupScheduler):
    """Learning rate ``min_lr`` at step 0, then ``base_lr * step / warmup_epoch``."""

    def __init__(self, optimizer, successor, warmup_epoch, min_lr, last_epoch=-1):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self):
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


def build_lr_scheduler(optimizer, optim_cfg):
    """Build the scheduler that ``optim_cfg`` (the ``OPTIM`` node) describes."""
    name = optim_cfg.LR_SCHEDULER
    stepsize = optim_cfg.STEPSIZE
    max_epoch = optim_cfg.MAX_EPOCH
    if name not in AVAI_SCHEDS:
        raise ValueError(f"OPTIM.LR_SCHEDULER must be one of {AVAI_SCHEDS}, but got {name!r}")

    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(
                f"OPTIM.STEPSIZE for single_step must be an integer, got {stepsize!r}"
            )
        if stepsize <= 0:
            stepsize = max_epoch
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA
        )
    elif name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(
                f"OPTIM.STEPSIZE for multi_step must be a list of epochs, got {stepsize!r}"
            )
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(stepsize), gamma=optim_cfg.GAMMA
        )
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(max_epoch))

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR
            )
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR
            )
        else:
            raise ValueError(
                f"OPTIM.WARMUP_TYPE must be one of {AVAI_WARMUP_TYPES}, "
                f"but got {optim_cfg.WARMUP_TYPE!r}"
            )
    return scheduler
