"""Data parallelism (DDP): one run on several processes, equal to one process.

On the CPU with gloo and 2 processes, as docs/SCALING.md ("DDP for one large
run") describes:

* the world of a process, read from torchrun's and Slurm's environment;
* the sharded samplers: every test image once, training steps that are
  contiguous blocks of one permutation;
* the step: 2 processes x batch b make the loss and the update of one process
  with batch 2b on the same images, OT on (``torch.multiprocessing.spawn``);
* ``torchrun --nproc_per_node 2 train.py``: a training run with one log, one
  set of checkpoints and one manifest; a resumed run equal to the
  uninterrupted one; ``--eval-only`` with the exact accuracy (and result
  block) of one process; a refusal on rank 0 that ends every process.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

import train
from enprompt.distributed import (
    DistributedSetupError,
    World,
    check_engine,
    first_host,
    slurm_master_port,
    world_from_env,
)
from enprompt.engine.data.samplers import build_distributed_sampler
from enprompt.run.identity import GLOBAL_BATCH_KEY, WORLD_SIZE_KEY, run_identity
from tests.child_process import assert_succeeded, child_env, kill_after_first_checkpoint, run_train_py
from tests.comparisons import assert_same
from tests.configs import make_cfg
from tests.fake_data import make_dtd
from tests.log_patterns import final_result
from tests.paths import REPO
from tests.train_py import dtd_argv, parse_train_args

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


# ----------------------------------------------------------------------------- the world
def test_world_of_torchrun_and_of_a_slurm_job_step():
    torchrun = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": "29511", "SLURM_PROCID": "0", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "1"}
    assert world_from_env(torchrun) == World(1, 1, 2, "127.0.0.1", "29511", "torchrun")
    step = {"SLURM_PROCID": "3", "SLURM_LOCALID": "1", "SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4",
            "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "123456", "SLURM_JOB_NODELIST": "gpu[07-08]",
            "SLURM_STEP_NODELIST": "gpu[07-08]"}
    assert world_from_env(step) == World(3, 1, 4, "gpu07", str(10000 + 123456 % 20000), "slurm")
    assert world_from_env(dict(step, MASTER_PORT="40000")).master_port == "40000"


def test_one_process_where_nothing_says_otherwise():
    single = World(0, 0, 1, "", "", "")
    assert world_from_env({}) == single
    assert world_from_env({"RANK": "0", "WORLD_SIZE": "1"}) == single  # torchrun --nproc_per_node 1
    # The batch script of `sbatch --ntasks 2` runs once (no job step): one process, not rank 0 of 2.
    batch_script = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "vm"}
    assert world_from_env(batch_script) == single


@pytest.mark.parametrize("nodelist,host", [
    ("vm", "vm"), ("gpu[07-09,12],cpu1", "gpu07"), ("a,b", "a"), ("rack[1-2]-n[01-04]", "rack1-n01"),
    ("node[003,001]", "node003"),
])
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_port_from_the_job_id_is_below_the_ephemeral_range():
    ports = {slurm_master_port(j) for j in ("1", "19999", "20000", "4242_7")}
    assert all(10000 <= p < 30000 for p in ports) and len(ports) == 4


def test_real_dassl_stops_at_once_naming_the_builtin_engine(monkeypatch, tmp_path):
    with pytest.raises(DistributedSetupError, match="ENPROMPT_ENGINE=builtin"):
        check_engine("dassl")
    check_engine("builtin")
    # train.py stops before any work: no process group, nothing written.
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(train, "selected_engine", lambda: "dassl")
    out = tmp_path / "out"
    with pytest.raises(DistributedSetupError, match="ENPROMPT_ENGINE=builtin"):
        train.main(parse_train_args(["--trainer", "EnPrompt", "--output-dir", out]))
    assert not out.exists()


def test_identity_of_a_ddp_training_names_processes_and_global_batch():
    cfg = make_cfg("DATALOADER.TRAIN_X.BATCH_SIZE", 4)
    one = run_identity(cfg, "sha")
    two = run_identity(cfg, "sha", world_size=2)
    assert WORLD_SIZE_KEY not in one.keys and GLOBAL_BATCH_KEY not in one.keys  # unchanged for one process
    assert two.keys[WORLD_SIZE_KEY] == 2 and two.keys[GLOBAL_BATCH_KEY] == 8
    assert one.hash != two.hash


# ----------------------------------------------------------------------------- samplers
def test_evaluation_shards_hold_every_image_once():
    data = list(range(7))
    shards = [list(build_distributed_sampler("SequentialSampler", data, 4, False, 1, 2, r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == data


def test_training_steps_are_blocks_of_one_permutation_and_need_a_global_batch():
    data, b = list(range(11)), 2
    samplers = [build_distributed_sampler("RandomSampler", data, b, True, 5, 2, r) for r in (0, 1)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        steps = [shards[0][k * b:(k + 1) * b] + shards[1][k * b:(k + 1) * b] for k in range(len(shards[0]) // b)]
        g = torch.Generator().manual_seed(5 + epoch)
        permutation = torch.randperm(len(data), generator=g).tolist()
        # Dassl's drop_last for the global batch 2b: floor(11 / 4) = 2 steps of 4 images.
        assert [sorted(s) for s in steps] == [sorted(permutation[k * 4:(k + 1) * 4]) for k in range(2)]
    with pytest.raises(ValueError, match="fewer than one global batch of 2 processes x .* 4 = 8"):
        build_distributed_sampler("RandomSampler", list(range(7)), 4, True, 5, 2, 0)


# ----------------------------------------------------------------------------- the step
@pytest.fixture(scope="module")
def two_process_step(tmp_path_factory, tiny_clip_path):
    """``(ddp, single)``: :mod:`tests.ddp_workers` on 2 processes and on one."""
    import torch.multiprocessing as mp

    from tests import ddp_workers

    folder = tmp_path_factory.mktemp("ddp_step")
    out = str(folder / "ddp.pt")
    mp.spawn(ddp_workers.ddp_step, args=(2, str(folder / "store"), tiny_clip_path, out), nprocs=2)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = ddp_workers.single_step(tiny_clip_path)
    finally:
        torch.set_num_threads(before)
    return torch.load(out, weights_only=True), single


def test_two_processes_of_batch_b_make_the_loss_and_update_of_one_process_of_batch_2b(two_process_step):
    ddp, single = two_process_step
    for name in ("loss", "loss_ce", "loss_ot", "acc"):
        assert ddp["summary"][name] == pytest.approx(single["summary"][name], rel=1e-5, abs=1e-6), name
    assert_same(ddp["before"], single["before"])
    for name in single["grad"]:
        torch.testing.assert_close(ddp["grad"][name], single["grad"][name], rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(ddp["after"][name] - ddp["before"][name],
                                   single["after"][name] - single["before"][name], rtol=1e-4, atol=1e-7)


def test_the_gather_gives_the_whole_ot_gradient_where_the_local_shard_alone_gives_half(two_process_step):
    ddp, single = two_process_step
    ot = torch.cat([g.flatten() for g in single["grad_ot"].values()])
    assert ot.abs().max() > 1e-3  # OT moves these parameters: the comparison below means something
    for name in single["grad"]:
        ce, ot = single["grad_ce"][name], single["grad_ot"][name]
        torch.testing.assert_close(ddp["grad"][name], ce + ot, rtol=1e-4, atol=1e-7)
        # open_clip's default gather (other shards without gradient) under DDP's average:
        torch.testing.assert_close(ddp["grad_local_shard_only"][name], ce + ot / 2, rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- torchrun
EPOCHS = 3


class Runs:
    """The data, the commands and the outputs of the torchrun scenario (one per module)."""

    def __init__(self, folder, clip_path):
        self.folder = folder
        self.data = osp.join(folder, "data")
        # 5 classes: training on the 3 base ones (12 images at 4 shots: 3 global batches of
        # 2 x 2), evaluation on all 15 test images, an odd number (shards of 8 and 7).
        make_dtd(self.data, n_classes=5, n_per_class=10, class_dependent=True)
        self.clip_path = clip_path
        self.env = child_env("builtin")

    def train_argv(self, out, *opts):
        return dtd_argv(self.data, self.clip_path, out, "DATASET.SUBSAMPLE_CLASSES", "base",
                        "TRAINER.ENPROMPT.PREC", "fp32", "OPTIM.MAX_EPOCH", EPOCHS,
                        "DATALOADER.TRAIN_X.BATCH_SIZE", 2, *opts)

    def eval_argv(self, out, model_dir):
        return dtd_argv(self.data, self.clip_path, out, "DATASET.SUBSAMPLE_CLASSES", "all",
                        "TRAINER.ENPROMPT.PREC", "fp32", "DATALOADER.TEST.BATCH_SIZE", 4,
                        flags=["--eval-only", "--model-dir", model_dir])

    def torchrun(self, argv, check=True):
        process = subprocess.run([*TORCHRUN, "train.py", *argv], cwd=REPO, env=self.env,
                                 capture_output=True, text=True, timeout=900)
        if check:
            assert_succeeded(process, "torchrun train.py")
        return process


def _files(run_dir):
    return sorted(osp.relpath(osp.join(d, n), run_dir) for d, _, names in os.walk(run_dir) for n in names)


def _manifest(run_dir):
    with open(osp.join(run_dir, "manifest.json")) as f:
        return json.load(f)


def _final_weights(run_dir):
    path = osp.join(run_dir, "prompt_learner", f"model.pth.tar-{EPOCHS}")
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip_path):
    s = Runs(str(tmp_path_factory.mktemp("torchrun")), tiny_clip_path)
    s.trained = osp.join(s.folder, "trained")
    s.train = s.torchrun(s.train_argv(s.trained))
    s.killed_dir = osp.join(s.folder, "killed")
    s.killed_at = kill_after_first_checkpoint([*TORCHRUN, "train.py", *s.train_argv(s.killed_dir)],
                                              s.killed_dir, env=s.env)
    s.resumed = s.torchrun(s.train_argv(s.killed_dir))
    s.again = s.torchrun(s.train_argv(s.trained))
    s.files_after_again = _files(s.trained)
    s.other = s.torchrun(s.train_argv(s.trained, "OPTIM.MAX_EPOCH", EPOCHS + 1), check=False)
    s.one_process = run_train_py(s.train_argv(s.trained), env=s.env, check=False)
    s.eval_ddp = s.torchrun(s.eval_argv(osp.join(s.folder, "eval_ddp"), s.trained))
    s.eval_single = run_train_py(s.eval_argv(osp.join(s.folder, "eval_single"), s.trained), env=s.env)
    return s


def test_ddp_training_writes_one_log_one_set_of_checkpoints_and_one_manifest(runs):
    files = _files(runs.trained)
    tensorboard = [f for f in files if f.startswith("tensorboard/")]
    assert len(tensorboard) == 1
    assert [f for f in files if f not in tensorboard] == [
        ".lock", "log.txt", "manifest.json", "prompt_learner/checkpoint", f"prompt_learner/model.pth.tar-{EPOCHS}",
    ]
    with open(osp.join(runs.trained, "log.txt")) as f:
        log = f.read()
    assert "Data parallel: 2 processes x batch 2 = global batch 4" in log
    for epoch in range(1, EPOCHS + 1):  # each line once: only rank 0 prints and saves
        assert log.count(f"epoch [{epoch}/{EPOCHS}] batch [3/3]") == 1
        assert log.count(f"model.pth.tar-{epoch}\n") == 1
    assert runs.train.stdout.count("=> result") == 1
    manifest = _manifest(runs.trained)
    assert manifest["status"] == "finished" and manifest["environment"]["world_size"] == 2
    assert manifest["identity"]["keys"]["DDP.WORLD_SIZE"] == 2
    assert manifest["identity"]["keys"]["DDP.GLOBAL_BATCH_SIZE"] == 4
    assert round(manifest["result"]["accuracy"], 1) == final_result(log)["accuracy"]
    assert "Traceback" not in runs.train.stderr


def test_a_killed_ddp_run_resumes_to_the_uninterrupted_result(runs):
    assert 1 <= runs.killed_at < EPOCHS, "the run finished before it could be killed"
    assert f"Previous epoch: {runs.killed_at}" in runs.resumed.stdout
    assert final_result(runs.resumed.stdout) == final_result(runs.train.stdout)
    assert_same(_final_weights(runs.trained), _final_weights(runs.killed_dir))


def test_every_process_skips_or_stops_with_rank_0(runs):
    assert "(so skip this job)" in runs.again.stdout and runs.again.stdout.count("skip this job") == 1
    assert "epoch [" not in runs.again.stdout
    # Another experiment in the folder: rank 0 refuses once, and every process ends.
    assert runs.other.returncode != 0
    assert runs.other.stderr.count("holds another experiment") == 1
    assert f"OPTIM.MAX_EPOCH: {EPOCHS} (in the folder) vs {EPOCHS + 1} (requested)" in runs.other.stderr
    # One process is another experiment than two (another batch and sample order).
    assert runs.one_process.returncode == 2
    assert "DDP.WORLD_SIZE: 2 (in the folder) vs (absent) (requested)" in runs.one_process.stderr
    assert "DDP.GLOBAL_BATCH_SIZE: 4 (in the folder) vs (absent) (requested)" in runs.one_process.stderr
    assert _files(runs.trained) == runs.files_after_again


def test_ddp_evaluation_gives_exactly_the_single_process_result(runs):
    ddp, single = final_result(runs.eval_ddp.stdout), final_result(runs.eval_single.stdout)
    assert ddp["total"] == 15
    assert ddp["text"] == single["text"]  # total, correct, accuracy, error, macro_f1
    assert runs.eval_ddp.stdout.count("=> result") == 1
    ddp_manifest = _manifest(osp.join(runs.folder, "eval_ddp"))
    assert ddp_manifest["result"] == _manifest(osp.join(runs.folder, "eval_single"))["result"]
    assert ddp_manifest["environment"]["world_size"] == 2
