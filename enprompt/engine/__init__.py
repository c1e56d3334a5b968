"""The built-in engine: the part of Dassl's API that CoOp-family code uses.

Same names and same behaviour for the same seed as Dassl.pytorch 0.6.3
(splits, few-shot samples, learning-rate schedule, checkpoint files, log
lines), written for current PyTorch. Import these names through
:mod:`enprompt.dassl`, which switches to the real Dassl when it is installed.
"""
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
    count_num_param,
)
from .data import (
    DATASET_REGISTRY,
    DataManager,
    DatasetBase,
    DatasetWrapper,
    Datum,
    build_data_loader,
    build_dataset,
    build_transform,
)
from .defaults import get_cfg_default
from .evaluator import EVALUATOR_REGISTRY, build_evaluator
from .logger import setup_logger
from .lr_scheduler import build_lr_scheduler
from .meters import AverageMeter, MetricMeter
from .metrics import compute_accuracy
from .optim import build_optimizer
from .registry import Registry, check_availability
from .tools import (
    collect_env_info,
    listdir_nohidden,
    mkdir_if_missing,
    read_image,
    read_json,
    set_random_seed,
    write_json,
)
from .trainer import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer

__all__ = [
    "AverageMeter",
    "CheckpointError",
    "DATASET_REGISTRY",
    "DataManager",
    "DatasetBase",
    "DatasetWrapper",
    "Datum",
    "EVALUATOR_REGISTRY",
    "MetricMeter",
    "Registry",
    "SimpleTrainer",
    "TRAINER_REGISTRY",
    "TrainerBase",
    "TrainerX",
    "build_data_loader",
    "build_dataset",
    "build_evaluator",
    "build_lr_scheduler",
    "build_optimizer",
    "build_trainer",
    "build_transform",
    "check_availability",
    "collect_env_info",
    "compute_accuracy",
    "count_num_param",
    "get_cfg_default",
    "listdir_nohidden",
    "load_checkpoint",
    "load_pretrained_weights",
    "mkdir_if_missing",
    "read_image",
    "read_json",
    "resume_from_checkpoint",
    "save_checkpoint",
    "set_random_seed",
    "setup_logger",
    "write_json",
]
