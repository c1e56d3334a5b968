"""``enprompt.fileio``: atomic writes (the one implementation every writer uses)."""
import errno
import os

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
