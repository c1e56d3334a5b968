"""The one switch between the real Dassl and the built-in engine.

Every file of this project imports Dassl names from here, never from
``dassl`` directly::

    from enprompt.dassl import TRAINER_REGISTRY, TrainerX, DATASET_REGISTRY

When ``import dassl`` works (Dassl.pytorch is installed, as in every
CoOp-family repository), the names below are the real Dassl objects, so a
trainer or reader registered here is found by the user's own ``train.py``.
Otherwise they come from :mod:`enprompt.engine`, which reproduces the same
behaviour (splits, few-shot samples, learning-rate schedule, checkpoints, log
lines) for the same seed.

A few names always come from the built-in engine, because Dassl 0.6.3 is
broken on current PyTorch or unsafe there; they keep Dassl's semantics and
file names:

* ``build_lr_scheduler``: Dassl's warm-up schedulers crash when built on
  recent PyTorch (they pass ``verbose`` positionally) and store the successor
  scheduler object in their state dict, which ``torch.load(weights_only=True)``
  refuses.
* ``save_checkpoint``, ``load_checkpoint``, ``resume_from_checkpoint``,
  ``load_pretrained_weights``: atomic writes and ``weights_only=True`` loads.
* ``write_json``: atomic, so a crash never leaves half a split or cache file.
* ``TrainerX`` (real-Dassl case): Dassl's ``TrainerX`` with ``save_model`` and
  ``resume_model_if_exist`` routed through the checkpoint functions above.

``ENGINE`` is ``"dassl"`` or ``"builtin"``; ``using_real_dassl()`` says the same.
"""
import os

__all__ = [
    "ENGINE",
    "using_real_dassl",
    "TRAINER_REGISTRY",
    "DATASET_REGISTRY",
    "EVALUATOR_REGISTRY",
    "Registry",
    "TrainerBase",
    "SimpleTrainer",
    "TrainerX",
    "Datum",
    "DatasetBase",
    "DataManager",
    "DatasetWrapper",
    "build_data_loader",
    "build_dataset",
    "build_transform",
    "get_cfg_default",
    "build_trainer",
    "build_optimizer",
    "build_lr_scheduler",
    "build_evaluator",
    "check_availability",
    "set_random_seed",
    "setup_logger",
    "collect_env_info",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "resume_from_checkpoint",
    "load_pretrained_weights",
    "read_json",
    "write_json",
    "read_image",
    "mkdir_if_missing",
    "listdir_nohidden",
    "compute_accuracy",
    "MetricMeter",
    "AverageMeter",
    "count_num_param",
]


def _dassl_importable():
    # ENPROMPT_ENGINE=builtin forces the built-in engine even where Dassl is
    # installed (used by the tests that compare the two engines).
    if os.environ.get("ENPROMPT_ENGINE", "").lower() == "builtin":
        return False
    try:
        import dassl  # noqa: F401
    except ImportError:
        return False
    return True


# Always from the built-in engine (see the module docstring).
from enprompt.engine.checkpoint import (  # noqa: E402
    CheckpointError,
    CheckpointIO,
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
)
from enprompt.engine.lr_scheduler import build_lr_scheduler  # noqa: E402
from enprompt.engine.tools import write_json  # noqa: E402

if _dassl_importable():
    ENGINE = "dassl"

    from dassl.config import get_cfg_default
    from dassl.data import DataManager
    from dassl.data.data_manager import DatasetWrapper, build_data_loader
    from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum, build_dataset
    from dassl.data.transforms import build_transform
    from dassl.engine import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, build_trainer
    from dassl.engine import TrainerX as _DasslTrainerX
    from dassl.evaluation import build_evaluator
    from dassl.evaluation.build import EVALUATOR_REGISTRY
    from dassl.metrics import compute_accuracy
    from dassl.optim import build_optimizer
    from dassl.utils import (
        AverageMeter,
        MetricMeter,
        Registry,
        check_availability,
        collect_env_info,
        count_num_param,
        listdir_nohidden,
        mkdir_if_missing,
        read_image,
        read_json,
        set_random_seed,
        setup_logger,
    )

    from enprompt.engine.trainer import SimpleTrainer as _BuiltinSimpleTrainer

    class TrainerX(CheckpointIO, _DasslTrainerX):
        """Dassl's ``TrainerX`` with checkpoints that are atomic, load with
        ``weights_only=True`` and allow resuming from any finished epoch (same
        folder and file names as Dassl's)."""

        after_epoch = _BuiltinSimpleTrainer.after_epoch

else:
    ENGINE = "builtin"

    from enprompt.engine import (  # noqa: F401
        DATASET_REGISTRY,
        EVALUATOR_REGISTRY,
        TRAINER_REGISTRY,
        AverageMeter,
        DataManager,
        DatasetBase,
        DatasetWrapper,
        Datum,
        MetricMeter,
        Registry,
        SimpleTrainer,
        TrainerBase,
        TrainerX,
        build_data_loader,
        build_dataset,
        build_evaluator,
        build_optimizer,
        build_trainer,
        build_transform,
        check_availability,
        collect_env_info,
        compute_accuracy,
        count_num_param,
        get_cfg_default,
        listdir_nohidden,
        mkdir_if_missing,
        read_image,
        read_json,
        set_random_seed,
        setup_logger,
    )


def using_real_dassl():
    """True when the names of this module are the real Dassl's."""
    return ENGINE == "dassl"
