"""The part of Dassl's API this project uses: each name, where Dassl has it,
and where the built-in engine has it. Written once, read by
:mod:`enprompt.engine` (its exports) and :mod:`enprompt.dassl` (the switch).
"""

__all__ = ["DASSL_API", "ALWAYS_BUILTIN"]

# name -> (module of Dassl.pytorch 0.6.3, module of enprompt.engine)
DASSL_API = {
    "get_cfg_default": ("dassl.config", "defaults"),
    "DataManager": ("dassl.data", "data.data_manager"),
    "DatasetWrapper": ("dassl.data.data_manager", "data.data_manager"),
    "build_data_loader": ("dassl.data.data_manager", "data.data_manager"),
    "DATASET_REGISTRY": ("dassl.data.datasets", "data.dataset_base"),
    "DatasetBase": ("dassl.data.datasets", "data.dataset_base"),
    "Datum": ("dassl.data.datasets", "data.datum"),
    "build_dataset": ("dassl.data.datasets", "data.dataset_base"),
    "build_transform": ("dassl.data.transforms", "data.transforms"),
    "TRAINER_REGISTRY": ("dassl.engine", "trainer"),
    "TrainerBase": ("dassl.engine", "trainer"),
    "SimpleTrainer": ("dassl.engine", "trainer"),
    "TrainerX": ("dassl.engine", "trainer"),  # with CheckpointMixin in front (enprompt.dassl)
    "build_trainer": ("dassl.engine", "trainer"),
    "EVALUATOR_REGISTRY": ("dassl.evaluation.build", "evaluator"),
    "build_evaluator": ("dassl.evaluation", "evaluator"),
    "compute_accuracy": ("dassl.metrics", "metrics"),
    "build_optimizer": ("dassl.optim", "optim"),
    "AverageMeter": ("dassl.utils", "meters"),
    "MetricMeter": ("dassl.utils", "meters"),
    "Registry": ("dassl.utils", "registry"),
    "check_availability": ("dassl.utils", "registry"),
    "collect_env_info": ("dassl.utils", "tools"),
    "count_num_param": ("dassl.utils", "torchtools"),
    "listdir_nohidden": ("dassl.utils", "tools"),
    "mkdir_if_missing": ("dassl.utils", "tools"),
    "read_image": ("dassl.utils", "tools"),
    "read_json": ("dassl.utils", "tools"),
    "set_random_seed": ("dassl.utils", "tools"),
}

# name -> module of enprompt.engine. Taken from this project even where Dassl
# is installed, because Dassl 0.6.3 is broken on current PyTorch or unsafe
# there (see enprompt.dassl); same names, semantics and file names as Dassl's.
ALWAYS_BUILTIN = {
    "build_lr_scheduler": "lr_scheduler",
    "CheckpointError": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "resume_from_checkpoint": "checkpoint",
    "load_pretrained_weights": "checkpoint",
    "write_json": "tools",
    # Dassl's names a rerun's log by the second it started, so a second rerun
    # within that second overwrites the first one's log; and a full disk there
    # ends the run with a bare OSError and exit status 120.
    "setup_logger": "logger",
}
