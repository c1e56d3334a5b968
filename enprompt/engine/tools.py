"""Small utilities of Dassl's ``dassl.utils.tools``, with the same names.

Behaviour follows Dassl 0.6.3; two deliberate differences, both safe:
``write_json`` replaces the target atomically (a crash never leaves half a
file), and ``listdir_nohidden`` can sort (Dassl's callers in this project
always ask it to, so listings do not depend on the filesystem).
"""
import errno
import json
import os
import os.path as osp
import random
import tempfile
import warnings

import numpy as np
import torch
from PIL import Image

__all__ = [
    "mkdir_if_missing",
    "check_isfile",
    "read_json",
    "write_json",
    "atomic_write",
    "set_random_seed",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "tolist_if_not",
]


def mkdir_if_missing(dirname):
    """Create ``dirname`` (and its parents) if it does not exist."""
    if not dirname:
        return
    try:
        os.makedirs(dirname, exist_ok=True)
    except OSError as e:  # pragma: no cover - races on network filesystems
        if e.errno != errno.EEXIST:
            raise


def check_isfile(fpath):
    """Return True if ``fpath`` is a file; warn (as Dassl does) otherwise."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


class atomic_write:
    """Context manager giving a temporary file that replaces ``fpath`` on success.

    The temporary file lives in the target's folder, so the final
    ``os.replace`` is atomic on POSIX filesystems: readers see either the old
    file or the complete new one, never a truncated file. On any exception the
    temporary file is removed and the target is left untouched.

    Example::

        with atomic_write("out/model.pth.tar-5", "wb") as f:
            torch.save(state, f)
    """

    def __init__(self, fpath, mode="w", **open_kwargs):
        if "w" not in mode:
            raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
        self.fpath = fpath
        self.mode = mode
        self.open_kwargs = open_kwargs

    def __enter__(self):
        dirname = osp.dirname(osp.abspath(self.fpath))
        mkdir_if_missing(dirname)
        fd, self.tmp_path = tempfile.mkstemp(
            prefix="." + osp.basename(self.fpath) + ".", suffix=".tmp", dir=dirname
        )
        self.file = os.fdopen(fd, self.mode, **self.open_kwargs)
        return self.file

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
        finally:
            if exc_type is None:
                os.replace(self.tmp_path, self.fpath)
            elif osp.exists(self.tmp_path):
                os.remove(self.tmp_path)
        return False


def read_json(fpath):
    """Read a JSON file."""
    with open(fpath, "r") as f:
        return json.load(f)


def write_json(obj, fpath):
    """Write ``obj`` as JSON (Dassl's indentation), atomically."""
    with atomic_write(fpath, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def set_random_seed(seed):
    """Seed Python ``random``, NumPy and PyTorch (CPU and all GPUs), as Dassl does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def read_image(path):
    """Read an image as RGB with PIL.

    Raises:
        OSError: naming the file when it cannot be read or decoded.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise OSError(
            f'Cannot read image "{path}": {e}. Check the file (re-download or '
            "re-extract the dataset), or set DATALOADER.SKIP_BAD_IMAGES True to "
            "skip unreadable images with a warning."
        ) from e


def collect_env_info():
    """Return a description of the software environment (torch's report + Pillow)."""
    import PIL
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def listdir_nohidden(path, sort=False):
    """List the non-hidden entries of ``path`` (sorted when ``sort``)."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def tolist_if_not(x):
    """Wrap ``x`` in a list unless it is one."""
    return x if isinstance(x, list) else [x]
