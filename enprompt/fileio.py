"""Writing files so that a crash never leaves half of one; standard library only.

Every file this project writes (checkpoints, split and few-shot files, CLIP
downloads, dataset downloads, benchmark reports) goes through
:func:`atomic_write`. The module imports nothing but the standard library, so
the dataset command line (``python -m enprompt.data``) uses it without loading
PyTorch.

Also here, for the same reason: the small JSON and folder helpers that the
engine exports under Dassl's names (``dassl.utils.tools``).
"""
import errno
import hashlib
import json
import os
import os.path as osp
import tempfile

__all__ = [
    "atomic_write",
    "mkdir_if_missing",
    "read_json",
    "write_json",
    "listdir_nohidden",
    "sha256_of_file",
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


class atomic_write:
    """Context manager giving a temporary file that replaces ``fpath`` on success.

    The temporary file lives in the target's folder, so the final
    ``os.replace`` is atomic on POSIX filesystems: readers see either the old
    file or the complete new one, never a truncated file. Its content is
    flushed and fsync'ed before the rename. On any exception (including one
    raised by the caller inside the ``with`` block, e.g. a failed checksum)
    the temporary file is removed and the target is left untouched.

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
        try:
            self.file = os.fdopen(fd, self.mode, **self.open_kwargs)
        except BaseException:
            os.close(fd)
            os.remove(self.tmp_path)
            raise
        return self.file

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
        except BaseException:
            # e.g. the disk filled up while the last bytes were flushed: the
            # temporary file is incomplete, so the target must not be replaced
            self._discard()
            raise
        if exc_type is None:
            os.replace(self.tmp_path, self.fpath)
        else:
            self._discard()
        return False

    def _discard(self):
        try:
            self.file.close()
        except OSError:
            pass
        if osp.exists(self.tmp_path):
            os.remove(self.tmp_path)


def read_json(fpath):
    """Read a JSON file."""
    with open(fpath, "r") as f:
        return json.load(f)


def write_json(obj, fpath):
    """Write ``obj`` as JSON (Dassl's indentation), atomically."""
    with atomic_write(fpath, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def listdir_nohidden(path, sort=False):
    """List the non-hidden entries of ``path`` (sorted when ``sort``)."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def sha256_of_file(path, chunk_size=1 << 20):
    """SHA256 of a file's content, hex, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
