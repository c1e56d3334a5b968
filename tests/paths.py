"""Where the tests find the repository and its config files.

``REPO`` is the repository root: the working directory of every child
process a test starts (``train.py``, ``parse_test_res.py``, ``python -m ...``).
The config files are absolute paths, so that a test does not depend on the
folder pytest was started from:

* ``dataset_config(name)``: ``configs/datasets/<name>.yaml`` (``DATASET_CONFIGS``
  is the folder);
* ``trainer_config(trainer, name)``: ``configs/trainers/<trainer>/<name>.yaml``;
* ``DTD_CFG`` and ``BASE2NEW_CFG``: the two the trainer tests run with,
  Describable Textures and EnPrompt's base-to-novel config.

Nothing is imported here but ``os.path``: tests that never load torch (the
scripts' tests) import it too.
"""
import os.path as osp

__all__ = ["REPO", "DATASET_CONFIGS", "dataset_config", "trainer_config", "DTD_CFG", "BASE2NEW_CFG"]

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATASET_CONFIGS = osp.join(REPO, "configs", "datasets")


def dataset_config(name):
    """``configs/datasets/<name>.yaml``, ``name`` being the config basename (``"dtd"``)."""
    return osp.join(DATASET_CONFIGS, f"{name}.yaml")


def trainer_config(trainer, name):
    """``configs/trainers/<trainer>/<name>.yaml``."""
    return osp.join(REPO, "configs", "trainers", trainer, f"{name}.yaml")


DTD_CFG = dataset_config("dtd")
BASE2NEW_CFG = trainer_config("EnPrompt", "vit_b16_c4_ep5_batch4_base2new")
