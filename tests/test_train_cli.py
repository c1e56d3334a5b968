"""train.py: CoOp's flags, the config merge order, and early, clear errors."""
import importlib.util
import os
import os.path as osp

import pytest

import train
from tests.child_process import run_train_py
from tests.paths import DTD_CFG
from tests.small_disk import small_disk  # noqa: F401
from tests.train_py import parse_train_args

ENGINES = [
    pytest.param("builtin", id="builtin-engine"),
    pytest.param("dassl", id="real-dassl", marks=pytest.mark.skipif(
        importlib.util.find_spec("dassl") is None,
        reason="Dassl.pytorch is not installed, so only the built-in engine can be run",
    )),
]


def _args(*argv):
    return parse_train_args(argv)


def test_flags_are_coops():
    args = _args("--root", "r", "--output-dir", "o", "--resume", "x", "--seed", "3",
                 "--source-domains", "a", "--target-domains", "b", "--transforms", "random_flip",
                 "--config-file", "c.yaml", "--dataset-config-file", "d.yaml", "--trainer", "EnPrompt",
                 "--backbone", "ViT-B/16", "--head", "h", "--eval-only", "--model-dir", "m",
                 "--load-epoch", "5", "--no-train", "OPTIM.LR", "0.1")
    assert (args.root, args.output_dir, args.resume, args.seed) == ("r", "o", "x", 3)
    assert args.eval_only and args.no_train and args.load_epoch == 5
    assert args.opts == ["OPTIM.LR", "0.1"]


def test_merge_order_dataset_then_method_then_flags_then_opts(tmp_path):
    method = tmp_path / "method.yaml"
    method.write_text("OPTIM:\n  LR: 0.5\n  MAX_EPOCH: 7\nDATASET:\n  NUM_SHOTS: 2\nSEED: 9\n")
    cfg = train.setup_cfg(_args(
        "--dataset-config-file", DTD_CFG, "--config-file", str(method),
        "--trainer", "EnPrompt", "--root", "/data", "--seed", "0", "OPTIM.MAX_EPOCH", "3",
    ))
    assert cfg.DATASET.NAME == "DescribableTextures"  # dataset yaml
    assert cfg.OPTIM.LR == 0.5 and cfg.DATASET.NUM_SHOTS == 2  # method yaml
    assert cfg.SEED == 0  # --seed 0 is honoured (CoOp drops it)
    assert cfg.OPTIM.MAX_EPOCH == 3  # trailing opts win
    assert cfg.TRAINER.NAME == "EnPrompt" and cfg.DATASET.ROOT == "/data"
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"  # added by extend_cfg
    assert cfg.is_frozen()


def test_seed_from_config_is_kept_without_flag(tmp_path):
    method = tmp_path / "m.yaml"
    method.write_text("SEED: 4\n")
    assert train.setup_cfg(_args("--config-file", str(method))).SEED == 4


def test_misspelt_key_names_the_key_and_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  MAX_EPOCHS: 5\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*OPTIM\.MAX_EPOCHS"):
        train.setup_cfg(_args("--config-file", str(bad)))
    with pytest.raises(ValueError, match="TRAINER.ENPROMPT.N_CTX_VISON"):
        train.setup_cfg(_args("TRAINER.ENPROMPT.N_CTX_VISON", "4"))
    with pytest.raises(ValueError, match="OPTIM.MAX_EPOCH"):
        train.setup_cfg(_args("OPTIM.MAX_EPOCH", "'five'"))
    with pytest.raises(FileNotFoundError, match="--config-file.*missing.yaml"):
        train.setup_cfg(_args("--config-file", str(tmp_path / "missing.yaml")))


def test_eval_only_with_missing_model_dir_fails_before_any_work(tmp_path):
    # Dassl-based repos silently start training instead (MaPLe#11).
    result = run_train_py(["--eval-only", "--model-dir", str(tmp_path / "nope"),
                           "--output-dir", str(tmp_path / "out"), "--trainer", "EnPrompt"], check=False)
    assert result.returncode == 2
    assert "--model-dir" in result.stderr and "nope" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was started


def test_early_errors_come_before_the_config_dump_from_the_command_and_the_scripts(tmp_path, tiny_clip_path):
    """``python train.py`` and a script: a data root without the dataset, and a misspelt option,
    each stop with one ``Error:`` line before the config and system info are printed."""
    from tests.script_helpers import run_script, script_env
    from tests.train_py import train_argv

    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out"
    command = run_train_py(train_argv(root=data, output_dir=out, clip_weights=tiny_clip_path), check=False)
    script = run_script("base2new_train.sh", "dtd", "1", "OPTIM.MAX_EPOCHS", "5", cwd=str(tmp_path),
                        env=script_env(DATA=str(data), OUTPUT=str(tmp_path / "output")), check=False)
    for result, shown in ((command, "Error: DescribableTextures is not ready: dataset folder not found"),
                          (script, "Error: Invalid command-line option: unknown config key "
                                   "OPTIM.MAX_EPOCHS. Did you mean OPTIM.MAX_EPOCH?")):
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.startswith(shown) and "Traceback" not in result.stderr
        assert "** Config **" not in result.stdout and "System info" not in result.stdout
    assert not (out / "log.txt").exists() and not (out / "manifest.json").exists()


_FILL_AFTER_EPOCH_1 = """
import sys
import train
from enprompt.engine.checkpoint_mixin import CheckpointMixin
from tests.small_disk import fill_up

save = CheckpointMixin.save_epoch_checkpoint

def save_then_fill(self):
    save(self)
    fill_up(sys.argv[1])  # another program fills the disk
    print("a long log line " * 1000)

CheckpointMixin.save_epoch_checkpoint = save_then_fill
sys.exit(train.cli(sys.argv[2:]))
"""


@pytest.mark.fault
@pytest.mark.parametrize("engine", ENGINES)
def test_a_log_that_fills_the_disk_ends_the_process_with_status_2_naming_it(
        engine, small_disk, tmp_path, tiny_clip_path):
    """The interpreter's own exit status (before: 120, from flushing the broken log at exit)."""
    import subprocess
    import sys

    from tests.child_process import child_env
    from tests.fake_data import make_dtd
    from tests.paths import REPO
    from tests.train_py import train_argv

    root, out = str(tmp_path / "data"), small_disk(2048)
    make_dtd(root, n_classes=4, n_per_class=12, class_dependent=True, image_size=32)
    argv = train_argv("DATASET.NUM_SHOTS", 2, "OPTIM.MAX_EPOCH", 2, "DATALOADER.NUM_WORKERS", 0,
                      "TRAINER.ENPROMPT.PREC", "fp32", root=root, output_dir=out,
                      clip_weights=tiny_clip_path, seed=1)
    result = subprocess.run([sys.executable, "-c", _FILL_AFTER_EPOCH_1, out, *argv], cwd=REPO,
                            env=child_env(engine), capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.startswith(
        f'Error: No space left on the device while writing the run\'s log "{out}/log.txt"'), result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert sorted(os.listdir(osp.join(out, "prompt_learner"))) == ["checkpoint", "model.pth.tar-1"]
