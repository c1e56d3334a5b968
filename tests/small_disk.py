"""A real, tiny filesystem to fill up: ``small_disk(kib)`` mounts a tmpfs.

A faked ``OSError(ENOSPC)`` is not what a full disk does to ``torch.save``
(its zip writer then fails with a ``RuntimeError``), so the disk-full tests
write to a real one. Mounting needs root (and a kernel that lets this
process mount); elsewhere the tests skip, saying so.

Import the fixture into a test module with
``from tests.small_disk import small_disk  # noqa: F401``.
"""
import os
import shutil
import subprocess

import pytest

__all__ = ["small_disk", "mount_problem", "fill_up"]


def _mount(folder, kib):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", folder],
                          capture_output=True, text=True)


def fill_up(folder, name="filler"):
    """Take every free byte of ``folder``'s filesystem with the file ``<folder>/<name>``
    (as another program filling the disk would); returns its path."""
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return path


def mount_problem():
    """Why a tmpfs cannot be mounted here, or "" when it can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "mounting a small tmpfs needs root, and these tests do not run as root"
    if shutil.which("mount") is None:
        return "there is no mount command to mount a small tmpfs"
    return ""


@pytest.fixture
def small_disk(tmp_path):
    """Factory: ``small_disk(kib)`` returns the path of a new tmpfs of ``kib`` KiB.

    Each is unmounted when the test ends, whatever happened.
    """
    problem = mount_problem()
    if problem:
        pytest.skip(problem)
    mounted = []

    def mount(kib):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = _mount(str(folder), kib)
        if result.returncode != 0:
            pytest.skip(f"mounting a {kib} KiB tmpfs was not permitted here: "
                        f"{result.stderr.strip() or result.returncode}")
        mounted.append(str(folder))
        return str(folder)

    try:
        yield mount
    finally:
        for folder in reversed(mounted):
            subprocess.run(["umount", "-l", folder], capture_output=True)
