"""Writing files so that a crash never leaves half of one; standard library only.

Every file this project writes (checkpoints, split and few-shot files, CLIP
downloads, dataset downloads, benchmark reports) goes through
:func:`atomic_write`. The module imports nothing but the standard library, so
the dataset command line (``python -m enprompt.data``) uses it without loading
PyTorch.

The final file gets the permissions a plain ``open(path, "w")`` would give
it: a new file ``0o666`` minus the process's umask (the kernel applies it, so
default ACLs apply too), an existing file keeps its permission bits. Files on
a shared dataset or output folder are therefore as readable by colleagues as
the ones Dassl and CoOp write.

A process killed while writing leaves its temporary file behind
(``.<name>.<8 random characters>.tmp`` in the target's folder).
:func:`remove_stale_temp_files` deletes those of a folder nobody else writes
to (a run folder, once its lock is held).

Also here, for the same reason: the small JSON and folder helpers that the
engine exports under Dassl's names (``dassl.utils.tools``).
"""
import errno
import hashlib
import json
import os
import os.path as osp
import re
import secrets

__all__ = [
    "atomic_write",
    "is_temp_name",
    "remove_stale_temp_files",
    "mkdir_if_missing",
    "read_json",
    "write_json",
    "listdir_nohidden",
    "sha256_of_file",
]

# The temporary file of ``atomic_write("<dir>/<name>")``: ``<dir>/.<name>.<token>.tmp``,
# token 8 characters (hex here; [a-z0-9_] from tempfile.mkstemp in earlier versions).
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


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
    the temporary file is removed and the target is left untouched. The
    final file has the permissions ``open(fpath, "w")`` would give it (the
    umask for a new file, the old bits for an existing one).

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
        fd, self.tmp_path = _create_temp_file(dirname, osp.basename(self.fpath))
        try:
            _keep_permissions_of(self.fpath, fd)
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


def _create_temp_file(dirname, name):
    """A new, exclusively created ``<dirname>/.<name>.<token>.tmp``: ``(fd, path)``.

    Created with mode ``0o666``, which the kernel reduces by the umask as for
    any ``open()`` (``tempfile.mkstemp`` would make it ``0o600``).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = osp.join(dirname, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "No unused temporary file name", path)


def _keep_permissions_of(fpath, fd):
    """Give the temporary file ``fd`` the permission bits of an existing ``fpath``
    (``open()`` on an existing file keeps them)."""
    try:
        mode = os.stat(fpath).st_mode & 0o777
    except OSError:
        return
    os.fchmod(fd, mode)


def is_temp_name(name):
    """True if ``name`` (a file name) is the temporary file of an :class:`atomic_write`."""
    return _TEMP_NAME.match(name) is not None


def remove_stale_temp_files(folder):
    """Delete the temporary files that interrupted atomic writes left in ``folder``
    and its sub-folders.

    Only call it on a folder no other process writes to (e.g. a run folder
    while its lock is held): a temporary file there is then never in use.

    Returns:
        (count, bytes): how many files were removed, and their total size.
    """
    count = size = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if not is_temp_name(name):
                continue
            path = osp.join(dirpath, name)
            try:
                stat = os.lstat(path)
                os.remove(path)
            except FileNotFoundError:
                continue
            count += 1
            size += stat.st_size
    return count, size


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
