"""Small utilities of Dassl's ``dassl.utils.tools``, with the same names.

Behaviour follows Dassl 0.6.3; deliberate differences, all safe:
``write_json`` replaces the target atomically (a crash never leaves half a
file), ``listdir_nohidden`` can sort (Dassl's callers in this project always
ask it to, so listings do not depend on the filesystem), and ``read_image``
raises an error naming the file where Dassl retries forever. The file helpers
themselves live in :mod:`enprompt.fileio`, which needs no PyTorch.
"""
import random

import numpy as np
import torch

from enprompt.data.image_files import decode_errors, image_read_error, read_rgb
from enprompt.fileio import listdir_nohidden, mkdir_if_missing, read_json, write_json

__all__ = [
    "mkdir_if_missing",
    "read_json",
    "write_json",
    "set_random_seed",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "tolist_if_not",
]


def set_random_seed(seed):
    """Seed Python ``random``, NumPy and PyTorch (CPU and all GPUs), as Dassl does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def read_image(path, hint=""):
    """Read an image as RGB with PIL.

    Args:
        path (str): the image file.
        hint (str): another way out, appended to the error (e.g. an option of
            the dataset reader that skips unreadable images).

    Raises:
        ImageReadError: an ``OSError`` naming the file and the fix when it
            cannot be read or decoded (first, also from a DataLoader worker).
    """
    try:
        return read_rgb(path)
    except decode_errors() as e:
        raise image_read_error(path, e, hint) from e


def collect_env_info():
    """Return a description of the software environment (torch's report + Pillow)."""
    import PIL
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def tolist_if_not(x):
    """Wrap ``x`` in a list unless it is one."""
    return x if isinstance(x, list) else [x]
