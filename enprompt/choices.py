"""The config keys that take one of a fixed set of values, their sets, and the one check.

Every place that accepts such a value (the config checks, the trainers, the
model and data code a library user calls directly) checks it with
:func:`check_choice`, so a set is written once and every message has the same
form. This module imports nothing, so that :mod:`enprompt.config` and the
dataset command line stay free of PyTorch.
"""

__all__ = [
    "CHOICES",
    "PRECISIONS",
    "TEMPLATE_MODES",
    "OT_SOLVERS",
    "COMPILE_TARGETS",
    "SUBSAMPLE_CHOICES",
    "FINAL_MODEL_CHOICES",
    "TEST_SPLIT_CHOICES",
    "check_choice",
    "invalid_value",
]

# Numerical precision of the frozen CLIP (enprompt.model.precision).
PRECISIONS = ("fp16", "fp32", "amp", "bf16")
# Templates of the frozen text features (enprompt.templates).
TEMPLATE_MODES = ("custom", "ensemble")
# Sinkhorn implementation of L_OT (enprompt.model.ot_loss).
OT_SOLVERS = ("sinkhorn", "pot")
# What torch.compile captures (enprompt.model.compile).
COMPILE_TARGETS = ("none", "encoder", "step")
# Base-to-new class subset (enprompt.data.subsample).
SUBSAMPLE_CHOICES = ("all", "base", "new")
# Model evaluated after training (Dassl's key).
FINAL_MODEL_CHOICES = ("last_step", "best_val")
# Split evaluated by the final test (Dassl's key).
TEST_SPLIT_CHOICES = ("test", "val")

CHOICES = {
    "TRAINER.ENPROMPT.PREC": PRECISIONS,
    "TRAINER.ENPROMPT.TEMPLATES": TEMPLATE_MODES,
    "TRAINER.ENPROMPT.OT.SOLVER": OT_SOLVERS,
    "TRAINER.ENPROMPT.COMPILE": COMPILE_TARGETS,
    "DATASET.SUBSAMPLE_CLASSES": SUBSAMPLE_CHOICES,
    "TEST.FINAL_MODEL": FINAL_MODEL_CHOICES,
    "TEST.SPLIT": TEST_SPLIT_CHOICES,
}


def invalid_value(key, value, expected):
    """The ``ValueError`` for a config value: ``"<key> = <value> is invalid: <expected>"``."""
    return ValueError(f"{key} = {value!r} is invalid: {expected}")


def check_choice(key, value):
    """Return ``value`` if it is allowed for the config key ``key``.

    Args:
        key (str): a key of :data:`CHOICES`, e.g. ``"TRAINER.ENPROMPT.PREC"``.
        value: the value to check.

    Raises:
        ValueError: ``"<key> = <value> is invalid: allowed values are [...]"``.
    """
    allowed = CHOICES[key]
    if value not in allowed:
        raise invalid_value(key, value, f"allowed values are {list(allowed)}")
    return value
