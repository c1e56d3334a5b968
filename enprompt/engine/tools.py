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
from PIL import Image

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
        OSError: naming the file when it cannot be read or decoded.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        fix = "Check the file (re-download or re-extract the dataset)"
        raise OSError(f'Cannot read image "{path}": {e}. {fix}{", or " + hint if hint else ""}.') from e


def collect_env_info():
    """Return a description of the software environment (torch's report + Pillow)."""
    import PIL
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def tolist_if_not(x):
    """Wrap ``x`` in a list unless it is one."""
    return x if isinstance(x, list) else [x]
