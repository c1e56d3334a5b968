"""The 15 dataset readers of the CoOp family, registered in Dassl's ``DATASET_REGISTRY``,
and ``ImageFolder`` for a folder of your own images.

Importing this package registers every reader under its CoOp class name
(``cfg.DATASET.NAME``). The shared logic (split files, few-shot cache,
base/new classes, checks) lives once in :mod:`enprompt.data`; each module here
declares a layout, class-name fixes and how to read raw annotations.
"""
# Imported for their side effect: registering the readers.
from . import (  # noqa: F401
    caltech101,
    dtd,
    eurosat,
    fgvc_aircraft,
    food101,
    image_folder,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
