"""``enprompt.fileio``: atomic writes (the one implementation every writer uses)."""
import errno
import os
import subprocess
import sys

import pytest

from enprompt import fileio
from enprompt.fileio import atomic_write, read_json, write_json
from tests.child_process import modules_loaded_by


def test_success_replaces_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "out.json"  # the folder is created
    write_json({"a": [1, 2]}, str(target))
    assert read_json(str(target)) == {"a": [1, 2]}
    assert target.read_text() == '{\n    "a": [\n        1,\n        2\n    ]\n}'  # Dassl's layout
    write_json({"b": 3}, str(target))
    assert read_json(str(target)) == {"b": 3}
    assert os.listdir(tmp_path / "sub") == ["out.json"]


def test_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="checksum"):
        with atomic_write(str(target), "wb") as f:
            f.write(b"half of the new con")
            temporary = [n for n in os.listdir(tmp_path) if n != "model.bin"]
            assert len(temporary) == 1 and temporary[0].startswith(".model.bin.")  # same folder
            raise RuntimeError("checksum differs")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_failed_flush_to_disk_keeps_the_old_file(tmp_path, monkeypatch):
    """A full disk can surface only when the data is synced; the target must survive it."""
    target = tmp_path / "split.json"
    target.write_text("old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        with atomic_write(str(target), "w") as f:
            f.write("new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["split.json"]


def test_read_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a write mode"):
        atomic_write(str(tmp_path / "x"), "r")


def test_needs_only_the_standard_library():
    assert modules_loaded_by("import enprompt.fileio", ("torch", "numpy", "PIL")) == []


@pytest.fixture
def umask():
    """Set the process umask for one test (``umask(0o002)``), restored afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


@pytest.mark.fault
@pytest.mark.parametrize("mask, expected", [pytest.param(0o022, 0o644, id="umask-022"),
                                            pytest.param(0o002, 0o664, id="umask-002")])
def test_new_files_get_the_permissions_of_a_plain_open(tmp_path, umask, mask, expected):
    """Colleagues on a shared folder can read what a run writes (not 0600)."""
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    write_json({"a": 1}, str(tmp_path / "atomic.json"))
    with atomic_write(str(tmp_path / "atomic.bin"), "wb") as f:
        f.write(b"x")
    modes = {name: os.stat(tmp_path / name).st_mode & 0o777
             for name in ("plain.txt", "atomic.json", "atomic.bin")}
    assert modes == {"plain.txt": expected, "atomic.json": expected, "atomic.bin": expected}


def test_rewriting_a_file_keeps_its_permission_bits(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "shared.json"
    write_json({"a": 1}, str(target))
    os.chmod(target, 0o660)  # as `open(target, "w")` would, a rewrite keeps these
    write_json({"a": 2}, str(target))
    assert os.stat(target).st_mode & 0o777 == 0o660 and read_json(str(target)) == {"a": 2}


def test_temporary_file_names_are_recognised_exactly(tmp_path):
    with atomic_write(str(tmp_path / "model.pth.tar-3"), "wb") as f:
        (name,) = [n for n in os.listdir(tmp_path)]
        f.write(b"x")
    assert fileio.is_temp_name(name) and name.startswith(".model.pth.tar-3.")
    assert fileio.is_temp_name(".model.pth.tar-3.k2_x9q0a.tmp")  # tempfile.mkstemp's, earlier
    for other in ("model.pth.tar-3", ".lock", "checkpoint.tmp", ".model.tmp", ".a.1234567.tmp",
                  ".a.12345678.tmp.bak", "a.12345678.tmp"):
        assert not fileio.is_temp_name(other), other


@pytest.mark.fault
def test_stale_temporary_files_are_removed_and_nothing_else(tmp_path):
    """What a SIGKILL during a write leaves behind, as a killed process leaves it."""
    run = tmp_path / "run"
    (run / "prompt_learner").mkdir(parents=True)
    (run / "prompt_learner" / "model.pth.tar-2").write_bytes(b"complete")
    (run / ".lock").write_text("{}")
    (run / "log.txt").write_text("log")
    code = ("import os, sys, enprompt.fileio as io\n"
            "w = io.atomic_write(sys.argv[1], 'wb'); f = w.__enter__(); f.write(b'x' * 1000)\n"
            "f.flush(); os.kill(os.getpid(), 9)\n")
    for _ in range(3):
        subprocess.run([sys.executable, "-c", code, str(run / "prompt_learner" / "model.pth.tar-3")])
    left = [n for n in os.listdir(run / "prompt_learner") if fileio.is_temp_name(n)]
    assert len(left) == 3  # the fault: each kill leaves one
    assert fileio.remove_stale_temp_files(str(run)) == (3, 3000)
    assert sorted(os.listdir(run)) == [".lock", "log.txt", "prompt_learner"]
    assert os.listdir(run / "prompt_learner") == ["model.pth.tar-2"]
