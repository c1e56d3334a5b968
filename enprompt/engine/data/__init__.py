"""Data side of the built-in engine: datum, dataset base, loaders, transforms."""
from .data_manager import DataManager, DatasetWrapper, build_data_loader
from .dataset_base import DATASET_REGISTRY, DatasetBase, build_dataset
from .datum import Datum
from .samplers import build_sampler
from .transforms import INTERPOLATION_MODES, build_transform

__all__ = [
    "DATASET_REGISTRY",
    "DataManager",
    "DatasetBase",
    "DatasetWrapper",
    "Datum",
    "INTERPOLATION_MODES",
    "build_data_loader",
    "build_dataset",
    "build_sampler",
    "build_transform",
]
