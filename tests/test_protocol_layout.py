"""enprompt.protocols: the run folders, configs and dataset lists of the protocols.

The folder names are the CoOp-family layout (written out by hand below), and
the scripts must write exactly the folders the module names: each script
runs here with a stand-in interpreter that records what it passes to
train.py (tests/script_helpers.py), so no training runs.
"""
import os
import os.path as osp
import shutil

import pytest

from enprompt import protocols
from enprompt.data.catalog import LAYOUTS
from enprompt.protocols import PROTOCOLS, SEEDS, STEPS
from enprompt.results.discovery import find_experiments
from tests.child_process import modules_loaded_by
from tests.paths import dataset_config, trainer_config
from tests.script_helpers import FakeBash, FakePython, run_script

B2N_CFG = "vit_b16_c4_ep5_batch4_base2new"
XD_CFG = "vit_b16_c4_ep2_batch4_cross_datasets"
FS_CFG = "vit_b16_c4_ep50_batch4_few_shot"


def test_run_folders_are_the_coop_family_layout():
    p = protocols
    assert p.BASE2NEW_TRAIN.run_dir("out", "dtd", 1) == \
        f"out/base2new/train_base/dtd/shots_16/EnPrompt/{B2N_CFG}/seed1"
    assert p.BASE2NEW_TEST.run_dir("out", "dtd", 2) == \
        f"out/base2new/test_new/dtd/shots_16/EnPrompt/{B2N_CFG}/seed2"
    assert p.BASE2NEW_TEST.model_dir("out", "dtd", 2) == p.BASE2NEW_TRAIN.run_dir("out", "dtd", 2)
    assert p.FEW_SHOT.run_dir("out", "eurosat", 3, shots=4) == \
        f"out/few_shot/eurosat/EnPrompt/{FS_CFG}_4shots/seed3"
    assert p.XD_TRAIN.run_dir("out", "imagenet", 1) == \
        f"out/imagenet/EnPrompt/{XD_CFG}_16shots/seed1"
    assert p.XD_TEST.run_dir("out", "imagenet_a", 1) == \
        f"out/evaluation/EnPrompt/{XD_CFG}_16shots/imagenet_a/seed1"
    assert p.XD_TEST.model_dir("out", "imagenet_a", 1) == \
        f"out/imagenet/EnPrompt/{XD_CFG}_16shots/seed1"
    assert p.ZEROSHOT.run_dir("out", "dtd") == "out/ZeroshotCLIP/vit_b16/dtd"
    # trainer, config and shots of an ablation or another shot count
    assert p.BASE2NEW_TRAIN.run_dir("out", "dtd", 1, shots=8, trainer="CoOp", cfg="abl") == \
        "out/base2new/train_base/dtd/shots_8/CoOp/abl/seed1"


def test_a_folder_needs_its_seed_and_shots():
    with pytest.raises(ValueError, match="needs a shot count"):
        protocols.FEW_SHOT.run_dir("out", "dtd", 1)
    with pytest.raises(ValueError, match="needs a seed"):
        protocols.BASE2NEW_TRAIN.run_dir("out", "dtd")
    with pytest.raises(ValueError, match="reads no trained model"):
        protocols.FEW_SHOT.model_dir("out", "dtd", 1, shots=1)


def test_protocol_lists():
    assert PROTOCOLS["base2new"].datasets == PROTOCOLS["few_shot"].datasets
    assert len(protocols.BENCHMARK_DATASETS) == 11
    assert protocols.XD_SOURCE == "imagenet" and len(protocols.XD_TARGETS) == 10
    assert protocols.XD_SOURCE not in protocols.XD_TARGETS
    assert protocols.DG_TARGETS == ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")
    assert PROTOCOLS["few_shot"].shots == (1, 2, 4, 8, 16) and SEEDS == (1, 2, 3)
    assert PROTOCOLS["xd"].steps == PROTOCOLS["dg"].steps  # DG reuses the xd runs
    # every name is a dataset config and every default config exists
    for protocol in PROTOCOLS.values():
        for dataset in (*protocol.datasets, *filter(None, [protocol.source])):
            assert dataset in LAYOUTS, dataset
            assert osp.isfile(dataset_config(dataset)), dataset
    for step in STEPS.values():
        assert osp.isfile(trainer_config(step.trainer, step.cfg)), step.name


def test_find_experiments_reads_back_the_folders(tmp_path):
    root = str(tmp_path)
    made = [("dtd", 16, "EnPrompt", B2N_CFG), ("eurosat", 8, "EnPrompt", "abl_x"),
            ("dtd", 16, "CoOp", B2N_CFG)]
    for dataset, shots, trainer, cfg in made:
        os.makedirs(protocols.BASE2NEW_TRAIN.run_dir(root, dataset, 1, shots, trainer, cfg))
    # not experiment folders of the step
    os.makedirs(osp.join(root, "base2new", "train_base", "dtd", "shots_x", "EnPrompt", "c"))
    os.makedirs(osp.join(root, "base2new", "train_base", ".cache", "shots_16", "EnPrompt", "c"))
    os.makedirs(osp.join(root, "base2new", "test_new", "dtd", "shots_16", "EnPrompt", "c"))
    found = find_experiments(root, protocols.BASE2NEW_TRAIN)
    assert sorted((f["dataset"], f["shots"], f["trainer"], f["cfg"]) for f, _ in found) == \
        sorted(made)
    for fields, folder in found:
        assert folder == protocols.BASE2NEW_TRAIN.experiment_dir(root, **fields)

    # "<cfg>_<K>shots" splits at the last "_<K>shots"; a fixed field must match
    os.makedirs(protocols.XD_TRAIN.run_dir(root, "imagenet", 1, 4, "EnPrompt", "a_2shots_b"))
    os.makedirs(osp.join(root, "few_shot", "dtd", "EnPrompt", "no_shot_count"))
    assert [f for f, _ in find_experiments(root, protocols.XD_TRAIN, dataset="imagenet")] == [
        {"dataset": "imagenet", "trainer": "EnPrompt", "cfg": "a_2shots_b", "shots": 4},
    ]
    assert find_experiments(root, protocols.FEW_SHOT) == []


def test_command_line(capsys):
    assert protocols.main(["datasets", "xd", "dg"]) == 0
    assert capsys.readouterr().out.split() == [*protocols.XD_TARGETS, *protocols.DG_TARGETS]
    assert protocols.main(["shots", "few_shot"]) == 0
    assert capsys.readouterr().out == "1 2 4 8 16\n"
    for argv in (["datasets", "nope"], ["datasets"]):
        with pytest.raises(SystemExit) as error:
            protocols.main(argv)
        assert error.value.code == 2
    assert "unknown protocol 'nope'" in capsys.readouterr().err


def test_the_module_loads_neither_torch_nor_numpy():
    assert modules_loaded_by("import enprompt.protocols", ("torch", "numpy")) == []


# --------------------------------------------------------------------------
# The scripts write the module's folders
# --------------------------------------------------------------------------
# (script, its arguments, environment, step, the step's folder fields)
SCRIPT_CASES = [
    ("base2new_train.sh", ["dtd", "2"], {}, "base2new_train", dict(dataset="dtd", seed=2)),
    ("base2new_test.sh", ["dtd", "2"], {}, "base2new_test", dict(dataset="dtd", seed=2)),
    ("base2new_test.sh", ["dtd", "2"], {"LOADEP": "3"}, "base2new_test", dict(dataset="dtd", seed=2)),
    ("base2new_train.sh", ["eurosat", "1"], {"CFG": XD_CFG}, "base2new_train",
     dict(dataset="eurosat", seed=1, cfg=XD_CFG)),
    ("few_shot.sh", ["dtd", "4", "3"], {}, "few_shot", dict(dataset="dtd", seed=3, shots=4)),
    ("xd_train.sh", ["2"], {}, "xd_train", dict(dataset="imagenet", seed=2)),
    ("xd_test.sh", ["imagenet_a", "2"], {}, "xd_test", dict(dataset="imagenet_a", seed=2)),
    ("xd_test.sh", ["dtd", "1"], {"CFG": B2N_CFG}, "xd_test",
     dict(dataset="dtd", seed=1, cfg=B2N_CFG)),
    ("zeroshot.sh", ["dtd"], {}, "zeroshot", dict(dataset="dtd")),
    ("zeroshot.sh", ["dtd"], {"ZS_TRAINER": "ZeroshotCLIP2"}, "zeroshot",
     dict(dataset="dtd", trainer="ZeroshotCLIP2")),
]


@pytest.mark.parametrize("script,args,env,step_name,fields", SCRIPT_CASES)
def test_scripts_write_the_folders_of_the_module(tmp_path, script, args, env, step_name, fields):
    step = STEPS[step_name]
    output = str(tmp_path / "out")
    python = FakePython(str(tmp_path))
    run_script(script, *args, "OPTIM.MAX_EPOCH", "1", cwd=tmp_path,
               env=python.env(DATA=str(tmp_path), OUTPUT=output, **env))
    [call] = python.train_py_calls()
    trainer = fields.get("trainer", step.trainer)
    cfg = fields.get("cfg", step.cfg)
    assert call.flags["--output-dir"] == step.run_dir(output, **fields)
    assert call.flags["--trainer"] == trainer
    assert call.flags["--config-file"] == f"configs/trainers/{step.trainer}/{cfg}.yaml"
    assert call.flags["--dataset-config-file"] == f"configs/datasets/{fields['dataset']}.yaml"
    assert call.flags.get("--seed") == (str(fields["seed"]) if step.seeded else None)
    assert call.flags.get("--eval-only", False) == step.eval_only
    assert call.flags.get("--model-dir") == (step.model_dir(output, **fields) if step.model else None)
    # train.py finds the final checkpoint of the finished model; LOADEP asks for another
    assert call.flags.get("--load-epoch") == env.get("LOADEP")
    if not step.eval_only:  # a training run samples the shots its folder names
        assert call.opts["DATASET.NUM_SHOTS"] == str(fields.get("shots", step.shots))
    assert call.opts["OPTIM.MAX_EPOCH"] == "1"  # forwarded, last
    assert call.args[-2:] == ["OPTIM.MAX_EPOCH", "1"]


def test_every_step_has_a_script_case():
    assert {case[3] for case in SCRIPT_CASES} == set(STEPS)
    assert {case[0] for case in SCRIPT_CASES} == {step.script for step in STEPS.values()}


# --------------------------------------------------------------------------
# The reproduce scripts loop over the module's lists
# --------------------------------------------------------------------------
def _reproduce_calls(tmp_path, script, **env):
    python, bash = FakePython(str(tmp_path)), FakeBash(str(tmp_path))
    output = str(tmp_path / "out")
    run_script(script, "OPTIM.MAX_EPOCH", "1", cwd=tmp_path, shell=shutil.which("bash"),
               env=bash.env(python.env(DATA=str(tmp_path), OUTPUT=output, **env)))
    results = [args for args in python.calls() if args[:2] == ["-m", "enprompt.results"]]
    return bash.calls(), results, output


def test_reproduce_base2new_defaults(tmp_path):
    calls, results, output = _reproduce_calls(tmp_path, "reproduce_base2new.sh")
    assert calls == [
        (script, dataset, str(seed), "OPTIM.MAX_EPOCH", "1")
        for dataset in PROTOCOLS["base2new"].datasets for seed in SEEDS
        for script in ("base2new_train.sh", "base2new_test.sh")
    ]
    assert results == [["-m", "enprompt.results", output, "--seeds", "1", "2", "3"]]


def test_reproduce_few_shot_defaults(tmp_path):
    # one seed: the default seeds are those of the other reproduce scripts
    calls, results, _ = _reproduce_calls(tmp_path, "reproduce_few_shot.sh", SEEDS="1")
    assert calls == [
        ("few_shot.sh", dataset, str(shots), "1", "OPTIM.MAX_EPOCH", "1")
        for dataset in PROTOCOLS["few_shot"].datasets for shots in PROTOCOLS["few_shot"].shots
    ]
    assert results[-1][-2:] == ["--seeds", "1"]


def test_reproduce_xd_defaults_and_subsets(tmp_path):
    calls, _, _ = _reproduce_calls(tmp_path, "reproduce_xd.sh")
    targets = PROTOCOLS["xd"].datasets + PROTOCOLS["dg"].datasets
    assert calls == [
        call for seed in SEEDS for call in [
            ("xd_train.sh", str(seed), "OPTIM.MAX_EPOCH", "1"),
            *[("xd_test.sh", target, str(seed), "OPTIM.MAX_EPOCH", "1") for target in targets],
        ]
    ]
    os.remove(osp.join(tmp_path, "bash_calls"))
    calls, results, _ = _reproduce_calls(tmp_path, "reproduce_xd.sh", TARGETS="dtd", SEEDS="5")
    assert [c[:3] for c in calls] == [("xd_train.sh", "5", "OPTIM.MAX_EPOCH"),
                                      ("xd_test.sh", "dtd", "5")]
    assert results[-1][-2:] == ["--seeds", "5"]
