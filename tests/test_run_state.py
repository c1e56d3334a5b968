"""The run folder's state: identity, manifest, provenance, lock and the skip/resume/refuse rules."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import enprompt.engine
from enprompt.run import (
    RESULT_NEUTRAL_KEYS,
    ManifestError,
    ModelState,
    RunConflict,
    RunFolderBusy,
    RunFolderLock,
    decide_eval,
    decide_train,
    new_manifest,
    read_manifest,
    run_identity,
    write_manifest,
)
from enprompt.run import provenance
from enprompt.run.identity import identity_from_keys
from tests.configs import make_cfg
from tests.paths import REPO


def _cfg(*opts):
    """The built-in engine's defaults with EnPrompt's keys, then ``opts`` (KEY, VALUE, ...)."""
    return make_cfg(*opts, engine=enprompt.engine)


# ---------------------------------------------------------------- identity
def test_result_neutral_keys_exist_and_do_not_change_the_hash():
    cfg = _cfg()
    base = run_identity(cfg, "w" * 64)
    flat_names = set(base.keys) | set(RESULT_NEUTRAL_KEYS)
    for key in RESULT_NEUTRAL_KEYS:
        assert key in flat_names
        assert key not in base.keys
    changed = _cfg("OUTPUT_DIR", "elsewhere", "DATALOADER.NUM_WORKERS", 0, "TRAIN.PRINT_FREQ", 1,
                   "DATASET.ROOT", "/other/data")
    changed.TRAINER.ENPROMPT.CLIP_WEIGHTS = "/some/where/ViT-B-16.pt"
    assert run_identity(changed, "w" * 64).hash == base.hash


@pytest.mark.parametrize("change", [
    ("OPTIM.LR", 0.1),
    ("OPTIM.MAX_EPOCH", 30),
    ("DATASET.NUM_SHOTS", 4),
    ("DATASET.NAME", "OxfordFlowers"),
    ("SEED", 2),
])
def test_result_keys_change_the_hash(change):
    assert run_identity(_cfg(*change), "w" * 64).hash != run_identity(_cfg(), "w" * 64).hash


def test_other_weights_change_the_hash():
    assert run_identity(_cfg(), "a" * 64).hash != run_identity(_cfg(), "b" * 64).hash


def test_seeds_share_the_experiment_hash_and_nothing_else_does():
    one, two = run_identity(_cfg("SEED", 1), None), run_identity(_cfg("SEED", 2), None)
    assert one.experiment_hash == two.experiment_hash and one.hash != two.hash
    assert run_identity(_cfg("SEED", 1, "OPTIM.LR", 0.5), None).experiment_hash != one.experiment_hash


def test_identity_survives_a_json_round_trip():
    identity = run_identity(_cfg(), "w" * 64)
    keys = json.loads(json.dumps(identity.keys))
    assert identity_from_keys(keys) == identity


def test_official_clip_sums_are_the_clip_packages():
    import clip.clip

    for name, (filename, sha256) in provenance.OFFICIAL_CLIP_FILES.items():
        url = clip.clip._MODELS[name]
        assert url.split("/")[-1] == filename
        assert url.split("/")[-2] == sha256


def test_large_file_hash_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("ENPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\0" * (9 << 20))
    calls = []
    real = provenance.sha256_of_file
    monkeypatch.setattr(provenance, "sha256_of_file", lambda p: calls.append(p) or real(p))
    first = provenance.file_sha256(str(path))
    assert provenance.file_sha256(str(path)) == first and len(calls) == 1
    path.write_bytes(b"\1" * (9 << 20))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert provenance.file_sha256(str(path)) != first and len(calls) == 2


# ---------------------------------------------------------------- manifest
def test_manifest_round_trip_and_no_temporary_file_left(tmp_path):
    manifest = new_manifest("train", run_identity(_cfg(), None), trainer="EnPrompt")
    write_manifest(str(tmp_path), manifest)
    assert read_manifest(str(tmp_path)) == manifest
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]


def test_no_manifest_reads_as_none(tmp_path):
    assert read_manifest(str(tmp_path)) is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": "other/9"}',
                                     '{"format": "enprompt-run/1", "kind": "train"}'])
def test_damaged_manifest_is_named_with_the_way_out(tmp_path, content):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError) as info:
        read_manifest(str(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "manifest.json") in message and "delete the manifest" in message


def test_unknown_manifest_field_is_a_programming_error():
    with pytest.raises(KeyError):
        new_manifest("train", run_identity(_cfg(), None), colour="blue")


# ---------------------------------------------------------------- lock
_HOLD = textwrap.dedent("""
    import sys, time
    from enprompt.run import RunFolderLock
    with RunFolderLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
""")


def _hold_lock(run_dir):
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen([sys.executable, "-c", _HOLD, run_dir], env=env,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_second_process_is_refused_naming_the_first_and_a_killed_holder_frees_it(tmp_path):
    run_dir = str(tmp_path / "run")
    holder = _hold_lock(run_dir)
    try:
        with pytest.raises(RunFolderBusy) as info:
            RunFolderLock(run_dir).acquire()
        assert f"process {holder.pid}" in str(info.value)
        assert "nothing was changed" in str(info.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunFolderLock(run_dir):  # the kernel released the dead holder's lock
        pass


def test_lock_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with RunFolderLock(str(tmp_path)):
            pass
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / ".lock").st_mode & 0o777) == oct(0o644)


# ---------------------------------------------------------------- decisions
def _manifest(kind="train", status="finished", identity=None, **fields):
    manifest = new_manifest(kind, identity or run_identity(_cfg(), None), **fields)
    manifest["status"] = status
    return manifest


def test_train_rules():
    requested = run_identity(_cfg(), None)
    assert decide_train("d", requested, None, has_content=False).action == "start"
    assert decide_train("d", requested, None, has_content=True).action == "legacy"
    assert decide_train("d", requested, _manifest(), True).action == "skip"
    for status in ("running", "interrupted", "failed"):
        assert decide_train("d", requested, _manifest(status=status), True).action == "resume"


def test_train_refuses_another_experiment_naming_each_key_and_both_ways_out():
    stored = _manifest(identity=run_identity(_cfg("DATASET.NAME", "DescribableTextures",
                                                  "OPTIM.MAX_EPOCH", 2), None))
    requested = run_identity(_cfg("DATASET.NAME", "OxfordFlowers", "OPTIM.MAX_EPOCH", 4), None)
    with pytest.raises(RunConflict) as info:
        decide_train("out/seed1", requested, stored, True)
    message = str(info.value)
    assert "DATASET.NAME: 'DescribableTextures' (in the folder) vs 'OxfordFlowers' (requested)" in message
    assert "OPTIM.MAX_EPOCH: 2 (in the folder) vs 4 (requested)" in message
    assert "--output-dir" in message and "--overwrite" in message and "OVERWRITE=1" in message
    assert [key for key, _, _ in info.value.diff] == ["DATASET.NAME", "OPTIM.MAX_EPOCH"]
    assert decide_train("out/seed1", requested, stored, True, overwrite=True).action == "overwrite"


def _model(status="finished", epoch=5, sha="s" * 64, epochs_on_disk=(5,)):
    manifest = _manifest(status=status, checkpoint={"path": "p", "epoch": epoch, "sha256": sha}
                         if status == "finished" else None)
    return ModelState("model", manifest, list(epochs_on_disk))


def test_eval_of_an_unfinished_model_is_refused_with_epochs_done_unless_asked_for():
    model = _model(status="interrupted", epochs_on_disk=[2])
    requested = run_identity(_cfg(), None)
    with pytest.raises(RunConflict) as info:
        decide_eval("e", requested, None, False, model)
    assert "2 of 10 epochs done" in str(info.value) and "--load-epoch" in str(info.value)
    decision = decide_eval("e", requested, None, False, model, explicit_epoch=2)
    assert decision.action == "start" and decision.partial


def test_eval_skips_only_while_it_evaluated_the_models_final_checkpoint():
    model = _model()
    requested = run_identity(_cfg(), None)
    evaluated = {"model_run_id": model.manifest["run_id"], "sha256": "s" * 64, "epoch": 5}
    done = _manifest(kind="eval", identity=requested, evaluated=evaluated)
    assert decide_eval("e", requested, done, True, model).action == "skip"
    retrained = _model(sha="t" * 64)
    retrained.manifest["run_id"] = model.manifest["run_id"]
    decision = decide_eval("e", requested, done, True, retrained)
    assert decision.action == "start" and "trained again" in decision.reason
    partial = dict(done, partial=True)
    assert decide_eval("e", requested, partial, True, model).action == "start"
    assert decide_eval("e", requested, done, True, model, explicit_epoch=3).partial
    assert not decide_eval("e", requested, done, True, model, explicit_epoch=5).partial


def test_reliability_doc_lists_exactly_the_result_neutral_keys():
    with open(osp.join(REPO, "docs", "RELIABILITY.md"), encoding="utf-8") as f:
        doc = f.read()
    section = doc.split("Keys that do not change results", 1)[1].split("Every other key", 1)[0]
    import re

    listed = set(re.findall(r"`([A-Z_]+(?:\.[A-Z_]+)*)`", section))
    assert listed == set(RESULT_NEUTRAL_KEYS)


def test_image_folder_keys_count_only_for_image_folder_runs():
    plain = run_identity(make_cfg("DATASET.NAME", "DescribableTextures"), None)
    assert not any(key.startswith("DATASET.IMAGE_FOLDER.") for key in plain.keys)
    other_dir = make_cfg("DATASET.NAME", "DescribableTextures", "DATASET.IMAGE_FOLDER.DIR", "x")
    assert run_identity(other_dir, None).hash == plain.hash
    folder = run_identity(make_cfg("DATASET.NAME", "ImageFolder", "DATASET.IMAGE_FOLDER.DIR", "x"), None)
    assert folder.keys["DATASET.IMAGE_FOLDER.DIR"] == "x"


def test_a_key_added_after_the_run_is_no_difference_at_its_default():
    from enprompt.run.identity import result_keys

    requested = run_identity(make_cfg(), None)
    older = {k: v for k, v in requested.keys.items() if k != "TRAINER.ENPROMPT.OT.ITERS"}
    stored = _manifest(identity=identity_from_keys(older))
    defaults = result_keys(make_cfg())
    assert decide_train("d", requested, stored, True, defaults=defaults).action == "skip"
    with pytest.raises(RunConflict):  # without the defaults it is a difference
        decide_train("d", requested, stored, True)
    changed = run_identity(make_cfg("TRAINER.ENPROMPT.OT.ITERS", 7), None)
    with pytest.raises(RunConflict) as info:  # not at its default: a real difference
        decide_train("d", changed, stored, True, defaults=defaults)
    assert "TRAINER.ENPROMPT.OT.ITERS: (absent) (in the folder) vs 7 (requested)" in str(info.value)
