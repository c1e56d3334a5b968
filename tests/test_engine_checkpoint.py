"""Checkpoint files: Dassl's names and contents, atomic writes, safe loading."""
import os
import os.path as osp
import pickle
import sys
import types

import pytest
import torch

from enprompt.engine import load_checkpoint, load_pretrained_weights, save_checkpoint
from enprompt.engine.checkpoint import CheckpointError, latest_checkpoint
from tests.small_disk import small_disk  # noqa: F401


def _state(epoch, value=1.0, size=2):
    return {"state_dict": {"module.w": torch.full((size,), value)}, "epoch": epoch,
            "optimizer": None, "scheduler": None, "val_result": None}


def test_names_pointer_and_module_prefix(tmp_path):
    save_dir = str(tmp_path / "prompt_learner")
    path = save_checkpoint(_state(3), save_dir)
    assert path == osp.join(save_dir, "model.pth.tar-3")
    with open(osp.join(save_dir, "checkpoint")) as f:
        assert f.read() == "model.pth.tar-3\n"
    ckpt = load_checkpoint(path)
    assert set(ckpt) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
    assert list(ckpt["state_dict"]) == ["w"]  # "module." stripped
    assert ckpt["epoch"] == 3

    save_checkpoint(_state(4), save_dir, is_best=True, model_name="model-best.pth.tar")
    assert osp.isfile(osp.join(save_dir, "model-best.pth.tar"))
    # resuming continues after the newest epoch, not from the best one
    assert latest_checkpoint(save_dir) == osp.join(save_dir, "model.pth.tar-3")
    os.remove(path)
    assert latest_checkpoint(save_dir) == osp.join(save_dir, "model-best.pth.tar")


def test_crash_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_dir = str(tmp_path / "m")
    save_checkpoint(_state(1, value=1.0), save_dir)

    def exploding_save(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise KeyboardInterrupt  # the job is killed in the middle of the write

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_state(1, value=2.0), save_dir)
    monkeypatch.undo()
    assert sorted(os.listdir(save_dir)) == ["checkpoint", "model.pth.tar-1"]  # no temp file left
    assert torch.equal(load_checkpoint(osp.join(save_dir, "model.pth.tar-1"))["state_dict"]["w"],
                       torch.full((2,), 1.0))


def test_disk_full_gives_clear_error_and_keeps_old_file(tmp_path, monkeypatch):
    import errno

    save_dir = str(tmp_path / "m")
    save_checkpoint(_state(1), save_dir)

    def full_disk(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left.*previous checkpoint.*intact"):
        save_checkpoint(_state(1), save_dir)
    monkeypatch.undo()
    assert load_checkpoint(osp.join(save_dir, "model.pth.tar-1"))["epoch"] == 1


@pytest.mark.fault
def test_full_disk_for_real_gives_the_message_and_keeps_the_previous_checkpoint(small_disk):
    """On a real full filesystem torch.save fails with a RuntimeError ("unexpected
    pos"), the OSError only its context; the user still gets the message with the path."""
    save_dir = osp.join(small_disk(200), "prompt_learner")
    first = save_checkpoint(_state(1, size=1000), save_dir)  # 4 KB: fits
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(_state(2, size=100_000), save_dir)  # 400 KB: does not
    message = str(info.value)
    assert message.startswith(f'No space left on the device while writing "{save_dir}/model.pth.tar-2"')
    assert "previous checkpoint" in message and "rerun the same command" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # what torch raised
    assert sorted(os.listdir(save_dir)) == ["checkpoint", "model.pth.tar-1"]  # no temp file
    assert torch.equal(load_checkpoint(first)["state_dict"]["w"], torch.ones(1000))


def test_resume_uses_the_newest_file_whatever_the_pointer_says(tmp_path):
    save_dir = str(tmp_path / "m")
    save_checkpoint(_state(1), save_dir)
    save_checkpoint(_state(2), save_dir)
    pointer = osp.join(save_dir, "checkpoint")
    with open(pointer, "w") as f:  # stopped between model file and pointer: a stale pointer
        f.write("model.pth.tar-1\n")
    assert latest_checkpoint(save_dir) == osp.join(save_dir, "model.pth.tar-2")
    os.remove(pointer)  # or no pointer at all
    assert latest_checkpoint(save_dir) == osp.join(save_dir, "model.pth.tar-2")
    assert latest_checkpoint(str(tmp_path / "missing")) is None


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_carrying_code_is_refused(tmp_path):
    path = str(tmp_path / "evil.pth.tar")
    torch.save({"state_dict": {}, "epoch": 1, "x": _Payload()}, path)
    with pytest.raises(CheckpointError, match="Refusing to load.*run code"):
        load_checkpoint(path)


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = str(tmp_path / "model.pth.tar-1")
    save_checkpoint(_state(1), str(tmp_path))
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="No checkpoint file"):
        load_checkpoint(str(tmp_path / "nope"))


@pytest.mark.fault
def test_random_bytes_give_the_path_and_the_fix(tmp_path):
    """Whatever the first bytes (each makes torch.load fail in another way)."""
    import random

    path = str(tmp_path / "model.pth.tar-1")
    seen = set()
    for seed in range(200):
        rng = random.Random(seed)
        with open(path, "wb") as f:
            f.write(bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 10, 100, 5000]))))
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert str(info.value).startswith(f'Cannot read checkpoint "{path}" (')
        assert "delete it and rerun" in str(info.value)
        seen.add(type(info.value.__cause__).__name__)
    assert {"ValueError", "EOFError", "IndexError"} <= seen  # several ways of failing


def test_reads_checkpoint_written_by_dassl_with_warmup_scheduler(tmp_path, monkeypatch):
    """Dassl stores the warm-up scheduler's successor object; it is read as inert data."""
    fake = types.ModuleType("dassl.optim.lr_scheduler")

    class ConstantWarmupScheduler:  # stand-in with Dassl's module path
        pass

    ConstantWarmupScheduler.__module__ = "dassl.optim.lr_scheduler"
    ConstantWarmupScheduler.__qualname__ = "ConstantWarmupScheduler"
    fake.ConstantWarmupScheduler = ConstantWarmupScheduler
    for name in ("dassl", "dassl.optim"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "dassl.optim.lr_scheduler", fake)

    param = torch.nn.Parameter(torch.zeros(2))
    optim = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optim, 5.0)
    path = str(tmp_path / "model.pth.tar-5")
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 5, "optimizer": optim.state_dict(),
                "scheduler": {"successor": cosine, "warmup_epoch": 1, "extra": ConstantWarmupScheduler()},
                "val_result": None}, path)
    for name in ("dassl", "dassl.optim", "dassl.optim.lr_scheduler"):
        monkeypatch.delitem(sys.modules, name)

    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 5 and torch.equal(ckpt["state_dict"]["w"], torch.ones(2))
    assert ckpt["scheduler"]["successor"].state["T_max"] == 5.0


def test_load_pretrained_weights_matches_names_and_shapes(tmp_path):
    src = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 4))
    path = str(tmp_path / "w.pth")
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    dst = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 5))
    load_pretrained_weights(dst, path)
    assert torch.equal(dst[0].weight, src[0].weight)
    assert dst[1].weight.shape == (5, 3)
    with pytest.raises(CheckpointError, match="No weight.*matches"):
        load_pretrained_weights(torch.nn.Linear(7, 7), path)


@pytest.mark.fault
def test_resuming_with_another_learning_rate_is_refused(tmp_path):
    """Loading the optimizer would silently bring the checkpoint's rate back (e.g. a
    --resume folder trained with OPTIM.LR 1e8 while this run asks for 0.0035)."""
    from enprompt.engine.checkpoint import resume_from_checkpoint

    def model_and_optim(lr):
        model = torch.nn.Linear(2, 2)
        optim = torch.optim.SGD(model.parameters(), lr=lr)
        return model, optim, torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=5)

    model, optim, sched = model_and_optim(1e8)
    save_checkpoint({"state_dict": model.state_dict(), "epoch": 2, "optimizer": optim.state_dict(),
                     "scheduler": sched.state_dict()}, str(tmp_path))
    model, optim, sched = model_and_optim(0.0035)
    with pytest.raises(CheckpointError) as info:
        resume_from_checkpoint(str(tmp_path), model, optim, sched)
    assert "base learning rate (OPTIM.LR) of 1e+08, but this run asks for 0.0035" in str(info.value)
    assert optim.param_groups[0]["lr"] == 0.0035  # nothing was loaded
    model, optim, sched = model_and_optim(1e8)
    assert resume_from_checkpoint(str(tmp_path), model, optim, sched) == 2  # the same rate resumes
