"""The built-in trainer loop: log lines, result block, checkpoints, resume, logger."""
import errno
import os
import os.path as osp
import re
import sys

import pytest

from enprompt.engine import build_trainer, load_checkpoint, set_random_seed, setup_logger
from enprompt.engine.logger import Logger, LogWriteError
from tests.comparisons import assert_same, state_copy
from tests.engine_toys import make_toy_images, toy_cfg
from tests.log_patterns import RESULT_BLOCK, result_blocks
from tests.trainer_tools import train_until_killed


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_images(str(tmp_path_factory.mktemp("toydata")))


def _build(cfg):
    cfg.freeze()
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


def _run(cfg):
    trainer = _build(cfg)
    trainer.train()
    return trainer


def test_epoch_log_line_and_result_block(toy_root, tmp_path, capsys):
    cfg = toy_cfg(toy_root, str(tmp_path / "out"))
    _run(cfg)
    out = capsys.readouterr().out
    # 18 images, batch 4, drop_last -> 4 batches, fewer than PRINT_FREQ: every batch is logged.
    line = re.compile(
        r"^epoch \[(\d)/4\] batch \[(\d)/4\] time \d+\.\d{3} \(\d+\.\d{3}\) "
        r"data \d+\.\d{3} \(\d+\.\d{3}\) loss \d+\.\d{4} \(\d+\.\d{4}\) "
        r"acc \d+\.\d{4} \(\d+\.\d{4}\) lr (\d\.\d{4}e[-+]\d\d) eta \d+:\d\d:\d\d$",
        re.M,
    )
    matches = line.findall(out)
    assert len(matches) == 16
    # The LR is stepped inside forward_backward of an epoch's last batch, before that
    # batch's line is printed (as in Dassl): that line already shows the next LR.
    lr_by_batch = {(m[0], m[1]): m[2] for m in matches}
    assert [lr_by_batch[("1", b)] for b in "1234"] == ["1.0000e-05"] * 3 + ["5.0000e-01"]
    assert [lr_by_batch[("2", b)] for b in "123"] == ["5.0000e-01"] * 3

    tail = out[out.index("Finish training"):]
    block = re.search(
        r"Finish training\nDeploy the last-epoch model\nEvaluate on the \*test\* set\n"
        + RESULT_BLOCK.pattern + r"\nElapsed: \d+:\d\d:\d\d\n",
        tail,
    )
    assert block and block["total"] == "18", tail
    correct, acc, err = int(block["correct"]), float(block["accuracy"]), float(block["error"])
    assert acc == pytest.approx(round(100 * correct / 18, 1))
    assert err == pytest.approx(round(100 - 100 * correct / 18, 1))
    assert correct == 18  # the colours are trivially separable

    files = sorted(os.listdir(tmp_path / "out" / "toy_head"))
    assert files == ["checkpoint", "model.pth.tar-4"]  # CHECKPOINT_FREQ 0: last epoch only
    assert os.listdir(tmp_path / "out" / "tensorboard")


def test_drop_last_only_when_a_full_batch_exists(toy_root, tmp_path):
    cfg = toy_cfg(toy_root, str(tmp_path / "a"))
    cfg.freeze()
    trainer = build_trainer(cfg)
    assert trainer.train_loader_x.drop_last and len(trainer.train_loader_x) == 4
    assert not trainer.test_loader.drop_last

    # 1 shot x 3 classes = 3 images < batch 4: nothing dropped, one batch of 3.
    cfg = toy_cfg(toy_root, str(tmp_path / "b"), **{"DATASET.NUM_SHOTS": 1})
    cfg.freeze()
    trainer = build_trainer(cfg)
    assert not trainer.train_loader_x.drop_last
    assert [len(b["label"]) for b in trainer.train_loader_x] == [3]


@pytest.mark.parametrize("checkpoint_freq", [0, 2])
def test_resume_after_interruption_matches_uninterrupted_run(toy_root, tmp_path, capsys, checkpoint_freq):
    freq = {"TRAIN.CHECKPOINT_FREQ": checkpoint_freq}
    reference = _run(toy_cfg(toy_root, str(tmp_path / "ref"), **freq))
    expected = state_copy(reference.model)
    kept = sorted(os.listdir(tmp_path / "ref" / "toy_head"))
    assert kept == (["checkpoint", "model.pth.tar-4"] if checkpoint_freq == 0 else
                    ["checkpoint", "model.pth.tar-2", "model.pth.tar-4"])  # Dassl's files

    out_dir = str(tmp_path / "interrupted")
    train_until_killed(_build(toy_cfg(toy_root, out_dir, **freq)), in_epoch=2)
    # Every finished epoch is a resume point; older ones Dassl would not keep are gone.
    assert sorted(os.listdir(osp.join(out_dir, "toy_head"))) == ["checkpoint", "model.pth.tar-2"]
    capsys.readouterr()

    # The same command again (fresh process state: same seed, same build).
    resumed = _run(toy_cfg(toy_root, out_dir, **freq))
    out = capsys.readouterr().out
    assert "Found checkpoint at" in out and "Previous epoch: 2" in out
    assert "epoch [1/4]" not in out and "epoch [2/4]" not in out and "epoch [3/4]" in out
    assert_same(expected, state_copy(resumed.model))
    assert sorted(os.listdir(osp.join(out_dir, "toy_head"))) == kept


def test_interrupted_resume_point_is_removed_after_the_next_epoch(toy_root, tmp_path):
    out_dir = str(tmp_path / "twice")
    train_until_killed(_build(toy_cfg(toy_root, out_dir)), in_epoch=1)
    train_until_killed(_build(toy_cfg(toy_root, out_dir)), in_epoch=3)
    assert sorted(os.listdir(osp.join(out_dir, "toy_head"))) == ["checkpoint", "model.pth.tar-3"]


def test_resume_of_finished_run_trains_no_epoch(toy_root, tmp_path, capsys):
    out_dir = str(tmp_path / "done")
    _run(toy_cfg(toy_root, out_dir))
    capsys.readouterr()
    _run(toy_cfg(toy_root, out_dir))
    out = capsys.readouterr().out
    assert "Previous epoch: 4" in out and "epoch [" not in out
    assert "=> result" in out


def test_eval_loads_requested_epoch_and_missing_file_is_named(toy_root, tmp_path):
    out_dir = str(tmp_path / "ev")
    _run(toy_cfg(toy_root, out_dir, **{"TRAIN.CHECKPOINT_FREQ": 2}))
    cfg = toy_cfg(toy_root, str(tmp_path / "ev_test"))
    cfg.freeze()
    trainer = build_trainer(cfg)
    trainer.load_model(out_dir, epoch=2)
    assert trainer.test() == pytest.approx(100.0 * trainer.evaluator._correct / 18)
    with pytest.raises(FileNotFoundError, match="model.pth.tar-3"):
        trainer.load_model(out_dir, epoch=3)


def test_best_val_model_is_saved_and_deployed(toy_root, tmp_path, capsys):
    out_dir = str(tmp_path / "bv")
    _run(toy_cfg(toy_root, out_dir, **{"TEST.FINAL_MODEL": "best_val"}))
    out = capsys.readouterr().out
    training, final = out.split("Finish training")
    val = [block["accuracy"] for block in result_blocks(training, after="Evaluate on the *val* set")]
    assert len(val) == 4  # one val evaluation per epoch
    best_epoch = val.index(max(val)) + 1  # the first epoch with the best result wins
    folder = osp.join(out_dir, "toy_head")
    assert sorted(os.listdir(folder)) == ["checkpoint", "model-best.pth.tar", "model.pth.tar-4"]
    best = load_checkpoint(osp.join(folder, "model-best.pth.tar"))
    assert best["epoch"] == best_epoch and best["val_result"] == pytest.approx(max(val), abs=0.05)
    assert re.match(
        r"\nDeploy the model with the best val performance\n"
        rf'Loading weights to toy_head from "{re.escape(folder)}/model-best.pth.tar" \(epoch = {best_epoch}\)\n'
        r"Evaluate on the \*test\* set\n=> result", final)


def test_load_model_refuses_a_checkpoint_that_does_not_fit(toy_root, tmp_path):
    import torch

    out_dir = str(tmp_path / "fit")
    trained = _run(toy_cfg(toy_root, out_dir, **{"OPTIM.MAX_EPOCH": 1}))
    path = osp.join(out_dir, "toy_head", "model.pth.tar-1")
    with pytest.raises(FileNotFoundError, match=r"available in .*toy_head: \['model.pth.tar-1'\]; pass --load-epoch"):
        trained.load_model(out_dir, epoch=2)

    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["fc.weight"] = torch.zeros(4, 3)
    torch.save(ckpt, path)
    before = state_copy(trained.model)
    with pytest.raises(ValueError) as info:
        trained.load_model(out_dir, epoch=1)
    assert "shape mismatch: fc.weight: checkpoint (4, 3) vs model (3, 3)" in str(info.value)
    assert str(info.value).endswith(trained.checkpoint_mismatch_hint)  # the method's own words, if any
    assert_same(before, state_copy(trained.model))  # nothing half-loaded

    ckpt["meta"]["backbone"] = "ViT-B/32"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="trained with backbone 'ViT-B/32'"):
        trained.load_model(out_dir, epoch=1)


def test_confusion_matrix_is_written(toy_root, tmp_path):
    import torch

    out_dir = str(tmp_path / "cm")
    _run(toy_cfg(toy_root, out_dir, **{"TEST.COMPUTE_CMAT": True, "OPTIM.MAX_EPOCH": 1}))
    cmat = torch.load(osp.join(out_dir, "cmat.pt"), weights_only=True)
    assert cmat.shape == (3, 3) and torch.allclose(cmat.sum(dim=1), torch.ones(3, dtype=cmat.dtype))
    assert not [f for f in os.listdir(out_dir) if f.startswith(".")]  # no temporary file left


def test_per_class_result_lines(toy_root, tmp_path, capsys):
    cfg = toy_cfg(toy_root, str(tmp_path / "pc"), **{"TEST.PER_CLASS_RESULT": True, "OPTIM.MAX_EPOCH": 2})
    _run(cfg)
    out = capsys.readouterr().out
    assert re.search(r"=> per-class result\n\* class: 0 \(red\)\ttotal: 6\tcorrect: \d+\tacc: \d+\.\d%", out)
    assert re.search(r"\* average: \d+\.\d%", out)


class _FullDisk:
    """A log file on a disk that is full: every write fails with ENOSPC."""

    closed = False

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    flush = write

    def close(self):
        self.closed = True
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_log_that_cannot_be_written_is_named_and_the_console_carries_on(tmp_path):
    import io

    console = io.StringIO()
    log = Logger.__new__(Logger)
    log.console, log.file, log.path = console, _FullDisk(), str(tmp_path / "log.txt")
    with pytest.raises(LogWriteError) as info:
        log.write("epoch [1/2] ...\n")
    assert str(info.value).startswith(
        f'No space left on the device while writing the run\'s log "{tmp_path}/log.txt" (No space '
        "left on device). The checkpoints and the manifest written so far are intact.")
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    log.write("Error: ...\n")  # the error itself still reaches the console
    log.flush()
    assert console.getvalue() == "epoch [1/2] ...\nError: ...\n"


def test_logger_never_overwrites_an_existing_log(tmp_path):
    saved = sys.stdout
    try:
        setup_logger(str(tmp_path))
        print("first run")
        setup_logger(str(tmp_path))
        print("second run")
        setup_logger(str(tmp_path))
        print("third run")
    finally:
        if isinstance(sys.stdout, Logger):
            sys.stdout.close()
        sys.stdout = saved
    names = sorted(os.listdir(tmp_path))
    assert names[0] == "log.txt" and len(names) == 3
    for name in names[1:]:
        assert re.fullmatch(r"log\.txt-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d(-\d+)?", name), name
    with open(tmp_path / "log.txt") as f:
        assert f.read() == "first run\n"


def test_nan_loss_stops_with_epoch_batch_terms_and_keeps_last_checkpoint(toy_root, tmp_path, monkeypatch):
    import torch

    out_dir = str(tmp_path / "nan")
    trainer = _build(toy_cfg(toy_root, out_dir))
    original = type(trainer).forward_backward

    def poisoned(self, batch):
        if self.epoch == 2 and self.batch_idx == 1:
            self.detect_anomaly(torch.tensor(float("nan")),
                                terms={"loss_ce": 0.7, "loss_ot": float("inf")})
        return original(self, batch)

    monkeypatch.setattr(type(trainer), "forward_backward", poisoned)
    with pytest.raises(FloatingPointError) as info:
        trainer.train()
    message = str(info.value)
    assert "epoch 3/4, batch 2/4" in message and "loss_ot = inf" in message
    assert 'model.pth.tar-2" (epoch 2), is kept' in message
    assert "Try a lower OPTIM.LR." in message  # the engine's hint; a method sets its own
    assert "--overwrite (scripts: OVERWRITE=1)" in message  # how to rerun with another value
    assert sorted(os.listdir(osp.join(out_dir, "toy_head"))) == ["checkpoint", "model.pth.tar-2"]


@pytest.mark.fault
def test_diverging_weights_stop_the_run_before_their_checkpoint_is_saved(toy_root, tmp_path):
    """OPTIM.LR 1e8: the loss stays finite while the weights explode; that epoch is not
    saved, so the newest checkpoint is the last good one."""
    from enprompt.engine.checkpoint_health import TrainingDiverged, weights_problem

    out_dir = str(tmp_path / "diverged")
    cfg = toy_cfg(toy_root, out_dir, **{"OPTIM.LR": 1e8})  # epoch 1 is the 1e-5 warm-up
    with pytest.raises(TrainingDiverged) as info:
        _run(cfg)
    message = str(info.value)
    assert message.startswith("Training diverged in epoch 2/4: toy_head's fc.")
    assert "at most 1e+06), so epoch 2 is not saved" in message
    assert f'"{out_dir}/toy_head/model.pth.tar-1" (epoch 1), is kept' in message
    assert "--overwrite (scripts: OVERWRITE=1)" in message and "--output-dir" in message
    assert sorted(os.listdir(osp.join(out_dir, "toy_head"))) == ["checkpoint", "model.pth.tar-1"]
    assert weights_problem(load_checkpoint(osp.join(out_dir, "toy_head", "model.pth.tar-1"))["state_dict"]) is None


@pytest.mark.fault
def test_a_diverged_checkpoint_is_never_named_good_nor_resumed(toy_root, tmp_path):
    """A folder whose newest checkpoint holds exploded weights (as earlier versions saved)."""
    import torch

    from enprompt.engine import save_checkpoint
    from enprompt.engine.checkpoint_health import TrainingDiverged, last_good_checkpoint

    out_dir = str(tmp_path / "old")
    cfg = toy_cfg(toy_root, out_dir, **{"OPTIM.MAX_EPOCH": 1})
    _run(cfg)  # a good model.pth.tar-1
    folder = osp.join(out_dir, "toy_head")
    good = load_checkpoint(osp.join(folder, "model.pth.tar-1"))
    bad = dict(good, epoch=2, state_dict={k: v * 5e22 for k, v in good["state_dict"].items()})
    save_checkpoint(bad, folder)
    assert last_good_checkpoint(folder, load_checkpoint) == (osp.join(folder, "model.pth.tar-1"), 1)
    nan = dict(good, epoch=3, state_dict={k: v * float("nan") for k, v in good["state_dict"].items()})
    save_checkpoint(nan, folder)
    assert last_good_checkpoint(folder, load_checkpoint) == (osp.join(folder, "model.pth.tar-1"), 1)

    cfg = toy_cfg(toy_root, out_dir, **{"OPTIM.MAX_EPOCH": 4})
    with pytest.raises(TrainingDiverged) as info:
        _run(cfg)
    message = str(info.value)
    assert message.startswith(f"The checkpoint to resume from in {out_dir} (epoch 3) is not good: "
                              "toy_head's fc.")
    assert f'"{folder}/model.pth.tar-1" (epoch 1), is kept' in message
    assert torch.isfinite(load_checkpoint(osp.join(folder, "model.pth.tar-1"))["state_dict"]["fc.weight"]).all()
