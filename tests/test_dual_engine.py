"""The same small experiment through the real Dassl and through the built-in engine.

Runs only where Dassl.pytorch is importable (it is not on PyPI; CoOp-family
repositories install it from its GitHub repository). Elsewhere it is skipped:
there is nothing to compare against.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.engine_toys import make_toy_images

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dassl") is None,
    reason="Dassl.pytorch is not installed, so there is no real Dassl to compare with",
)


def _probe(root, out_dir, engine_env):
    result = os.path.join(out_dir, "result.json")
    env = dict(os.environ, **engine_env)
    subprocess.run(
        [sys.executable, "-m", "tests.dual_engine_probe", root, out_dir, result],
        cwd=REPO, env=env, check=True, capture_output=True,
    )
    with open(result) as f:
        return json.load(f)


def test_same_samples_learning_rates_checkpoints_and_accuracy(tmp_path):
    root = make_toy_images(str(tmp_path / "data"), n_per_class=8)
    real = _probe(root, str(tmp_path / "real"), {})
    builtin = _probe(root, str(tmp_path / "builtin"), {"ENPROMPT_ENGINE": "builtin"})
    assert real.pop("engine") == "dassl" and builtin.pop("engine") == "builtin"
    assert real["train_x"] == builtin["train_x"]  # same few-shot samples for the same seed
    assert real["lrs"] == pytest.approx(builtin["lrs"], rel=1e-12)
    assert real["files"] == builtin["files"] == ["checkpoint", "model.pth.tar-2", "model.pth.tar-4"]
    assert real["checkpoint_keys"] == builtin["checkpoint_keys"]
    assert real["epoch"] == builtin["epoch"] == 4
    assert real["weights"] == builtin["weights"]
    assert real["accuracy"] == builtin["accuracy"]
