"""The switch (``enprompt.dassl``): which engine it loads, and the same experiment on both.

The comparison runs only where Dassl.pytorch is importable (it is not on PyPI;
CoOp-family repositories install it from its GitHub repository). The switch
itself is tested everywhere, against small fake ``dassl`` packages written
into a temporary folder.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from enprompt.engine.exports import ALWAYS_BUILTIN, DASSL_API
from tests.child_process import assert_succeeded, child_env
from tests.engine_toys import make_toy_images
from tests.paths import REPO


def _probe(root, out_dir, engine):
    result = os.path.join(out_dir, "result.json")
    process = subprocess.run(
        [sys.executable, "-m", "tests.dual_engine_probe", root, out_dir, result],
        cwd=REPO, env=child_env(engine), capture_output=True, text=True,
    )
    assert_succeeded(process, f"the dual-engine probe ({engine})")
    with open(result) as f:
        return json.load(f)


@pytest.mark.skipif(
    importlib.util.find_spec("dassl") is None,
    reason="Dassl.pytorch is not installed, so there is no real Dassl to compare with",
)
def test_same_samples_learning_rates_checkpoints_and_accuracy(tmp_path):
    root = make_toy_images(str(tmp_path / "data"), n_per_class=8)
    real = _probe(root, str(tmp_path / "real"), "dassl")
    builtin = _probe(root, str(tmp_path / "builtin"), "builtin")
    assert real.pop("engine") == "dassl" and builtin.pop("engine") == "builtin"
    assert real["train_x"] == builtin["train_x"]  # same few-shot samples for the same seed
    assert real["lrs"] == pytest.approx(builtin["lrs"], rel=1e-12)
    assert real["files"] == builtin["files"] == [
        "checkpoint", "model-best.pth.tar", "model.pth.tar-2", "model.pth.tar-4"]
    assert real["checkpoint_keys"] == builtin["checkpoint_keys"]
    assert real["epoch"] == builtin["epoch"] == 4
    assert real["weights"] == builtin["weights"]
    assert real["best"] == builtin["best"]
    assert real["best"]["meta"] == {"trainer": "ToyTrainer", "backbone": ""}
    assert real["accuracy"] == builtin["accuracy"]


# ---------------------------------------------------------------- the switch, on fake Dassl packages
def _write_package(root, modules):
    """``modules``: {dotted name: source}; every module is written as a package."""
    for dotted, source in modules.items():
        folder = os.path.join(root, *dotted.split("."))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "__init__.py"), "w") as f:
            f.write(source)
    return root


def _import_switch(fake_root, code, engine=None):
    env = {k: v for k, v in os.environ.items() if k != "ENPROMPT_ENGINE"}
    env["PYTHONPATH"] = os.pathsep.join([fake_root, REPO])
    if engine:
        env["ENPROMPT_ENGINE"] = engine
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)


_REPORT = """
import json, sys
import enprompt.dassl as d
from enprompt.engine.checkpoint_mixin import CheckpointMixin
names = {n: getattr(d, n) for n in d.__all__ if n not in ("ENGINE", "DasslImportError", "using_real_dassl")}
print(json.dumps({
    "engine": d.ENGINE,
    "dassl_names": {n: v for n, v in names.items() if isinstance(v, str)},
    "own_modules": {n: v.__module__ for n, v in names.items() if not isinstance(v, str)},
    "trainer_x_bases": [c.__module__ + "." + c.__name__ for c in d.TrainerX.__mro__[1:3]],
    "mixin_methods": all(getattr(d.TrainerX, m) is getattr(CheckpointMixin, m)
                         for m in ("after_epoch", "save_model", "load_model", "resume_model_if_exist",
                                   "detect_anomaly")),
    "loaded": sorted(m for m in sys.modules if m.startswith("enprompt.engine")),
}))
"""


def test_switch_takes_every_name_from_dassl_and_loads_no_builtin_trainer_or_data(tmp_path):
    modules = {"dassl": ""}
    for name, (module, _) in DASSL_API.items():
        modules.setdefault(module, "")
        if name == "TrainerX":
            modules[module] += (
                "class TrainerX:\n"
                "    def after_epoch(self): raise AssertionError('Dassl after_epoch')\n"
                "    def save_model(self, *a): raise AssertionError('Dassl save_model')\n"
                "    def load_model(self, *a): raise AssertionError('Dassl load_model')\n"
            )
        else:
            modules[module] += f"{name} = {module + '.' + name!r}\n"
    fake = _write_package(str(tmp_path / "fake"), modules)

    result = _import_switch(fake, _REPORT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["engine"] == "dassl"
    assert report["dassl_names"] == {
        name: f"{module}.{name}" for name, (module, _) in DASSL_API.items() if name != "TrainerX"}
    # TrainerX: Dassl's, with the checkpoint mixin in front of its own methods
    assert report["trainer_x_bases"] == [
        "enprompt.engine.checkpoint_mixin.CheckpointMixin", "dassl.engine.TrainerX"]
    assert report["mixin_methods"]
    for name in ALWAYS_BUILTIN:
        assert report["own_modules"][name].startswith("enprompt."), name
    assert not [m for m in report["loaded"] if m.startswith(("enprompt.engine.trainer", "enprompt.engine.data"))]


def test_installed_but_broken_dassl_gives_one_clear_error(tmp_path):
    fake = _write_package(str(tmp_path / "broken"), {
        "dassl": "",
        "dassl.config": "get_cfg_default = None\n",
        "dassl.data": "import missing_dependency_of_dassl\n",  # as Dassl's data modules need wilds
    })
    result = _import_switch(fake, "import enprompt.dassl")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("enprompt.dassl.DasslImportError: Dassl.pytorch is installed"), result.stderr
    assert "importing dassl.data failed" in last
    assert "Install the missing module 'missing_dependency_of_dassl'" in last
    assert "ENPROMPT_ENGINE=builtin" in last
    assert result.stderr.count("Traceback") == 1  # one error, not a chain

    way_out = _import_switch(fake, "import enprompt.dassl as d; print(d.ENGINE)", engine="builtin")
    assert way_out.returncode == 0, way_out.stderr
    assert way_out.stdout.strip() == "builtin"
