"""benchmarks/device_check.sh: known to work end to end before it meets a GPU.

* Without CUDA it refuses at once, in its first line, with exit status 2.
* ``DEVICE_CHECK_ALLOW_CPU=1 benchmarks/device_check.sh OUT --smoke`` runs
  the stages of the real plan with tiny shapes (the tiny CLIP, C = 4 and 8,
  one step, TorchDynamo without code generation) and writes the JSON and
  markdown reports: three stages in the default run, shared by the
  assertions, all six in a test marked ``slow``; every stage's command is
  checked against the scripts' own parsers.
* The time guard and the stop at the first failure, with stand-in stages
  (small Python commands that write what a stage writes).
* The goals, from bench results whose ratios are computed here by hand.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from benchmarks import device_check
from tests.paths import REPO

SCRIPT = osp.join(REPO, "benchmarks", "device_check.sh")
STAGES = ["cuda-tests", "eager-c100", "eager-c1000", "compiled-c100", "compiled-c1000", "cpu-inductor-test"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != device_check.ALLOW_CPU_ENV}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a CUDA device, so the check would run")


@NO_CUDA
def test_without_cuda_it_says_so_in_its_first_line(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([SCRIPT, str(out)], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    first_line = (result.stderr + result.stdout).splitlines()[0]
    assert "needs a CUDA device" in first_line and "--smoke" in first_line, first_line
    assert not out.exists()


@NO_CUDA
@pytest.mark.parametrize("extra, allow", [((), True), (("--smoke",), False)])
def test_a_cpu_is_accepted_only_for_the_smoke_run_and_only_when_allowed(tmp_path, monkeypatch, capsys, extra, allow):
    monkeypatch.delenv(device_check.ALLOW_CPU_ENV, raising=False)
    if allow:
        monkeypatch.setenv(device_check.ALLOW_CPU_ENV, "1")
    assert device_check.main([str(tmp_path / "out"), *extra]) == device_check.EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"{device_check.SCRIPT}: needs a CUDA device")
    assert not (tmp_path / "out").exists()


def test_every_stage_command_is_one_the_scripts_accept(tmp_path):
    """The commands of the real plan and of the smoke plan parse (a typo would only show on a GPU)."""
    from benchmarks import bench_train

    for smoke in (False, True):
        stages = device_check.plan(str(tmp_path), smoke=smoke)
        assert [s.name for s in stages] == STAGES
        for stage in stages:
            if stage.kind == "bench":
                args = bench_train.parse_args(stage.argv[2:])
                assert args.json == str(tmp_path / stage.output)
                assert (args.compile == "step") == stage.compiled
                assert args.arch == ("tiny" if smoke else "ViT-B/16") and args.precision == "fp16"
            else:
                assert stage.argv[1:3] == ["-m", "pytest"] and all(osp.isfile(osp.join(REPO, f))
                                                                   for f in stage.argv if f.startswith("tests/"))
    full = {s.name: s for s in device_check.plan(str(tmp_path))}
    assert sum(s.estimate_s for s in full.values() if s.required) <= device_check.DEFAULT_BUDGET_S
    assert bench_train.parse_args(full["eager-c1000"].argv[2:]).classes == 1000


# ---------------------------------------------------------------- the smoke run, every stage


SMOKE_STAGES = ["cuda-tests", "eager-c100", "compiled-c100"]


def _smoke(out, *argv):
    result = subprocess.run(
        [SCRIPT, str(out), "--smoke", *argv], cwd=REPO, env=_env(**{device_check.ALLOW_CPU_ENV: "1"}),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(out / "device_check.json") as f:
        report = json.load(f)
    return out, report, result.stdout, (out / "device_check.md").read_text()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke run of three stages: the tests stage, an eager and a compiled bench stage.

    Each stage is a process that imports torch and CLIP (about 5 s on this CPU), so the default
    run takes these three; the other stages run the same code with other numbers, and
    ``test_smoke_runs_all_six_stages`` (marked slow) runs them all.
    """
    return _smoke(tmp_path_factory.mktemp("device-check") / "out", "--only", ",".join(SMOKE_STAGES))


def test_smoke_runs_the_stages_and_writes_what_it_measured(smoke):
    out, report, stdout, _ = smoke
    assert report["status"] == "complete" and report["mode"] == "smoke"
    assert [s["name"] for s in report["stages"]] == SMOKE_STAGES
    assert all(s["status"] == "ok" for s in report["stages"]), report["stages"]
    assert 0 < report["elapsed_s"] <= report["budget_s"] == device_check.DEFAULT_BUDGET_S
    for stage in report["stages"]:
        assert (out / stage["log"]).stat().st_size > 0, stage["name"]
        assert (out / stage["output"]).is_file(), stage["name"]
    assert report["machine"]["torch"] == torch.__version__
    # the CUDA tests were collected and, on a CPU, each skipped with its reason
    tests = report["tests"]["cuda-tests"]
    assert tests["counts"]["total"] >= 10 and tests["counts"]["failed"] == tests["counts"]["error"] == 0
    assert any(t["name"] == "test_compile::test_compiled_step_matches_eager_on_cuda" for t in tests["tests"])
    if not torch.cuda.is_available():
        assert all(t["outcome"] == "skipped" and t["message"] == "needs a CUDA device" for t in tests["tests"])
    assert "[device check] complete in" in stdout


def test_smoke_bench_stages_eager_and_compiled(smoke):
    out, report, _, _ = smoke
    benchmarks = report["benchmarks"]
    assert set(benchmarks) == {"eager-c100", "compiled-c100"}
    assert set(benchmarks["eager-c100"]["designs"]) == {"enprompt", "reference", "zeroshot"}
    assert set(benchmarks["compiled-c100"]["designs"]) == {"enprompt", "zeroshot"}
    assert benchmarks["eager-c100"]["config"]["classes"] == 4
    enprompt = benchmarks["compiled-c100"]["designs"]["enprompt"]
    assert enprompt["compile"]["requested"] == enprompt["compile"]["target"] == "step"
    assert enprompt["compile"]["fallback"] is None
    assert enprompt["train"]["compile_time_s"] >= 0 and enprompt["train"]["ops_per_step"] is None
    # the same batches and seed: the compiled step computes what the eager one does
    eager = benchmarks["eager-c100"]["designs"]["enprompt"]
    assert enprompt["train"]["final_loss"] == pytest.approx(eager["train"]["final_loss"], rel=1e-6)
    with open(out / "compiled-c100.json") as f:
        raw = json.load(f)
    assert raw["config"]["compile"] == "step" and raw["config"]["compile_backend"] == "eager"
    assert "test batch" in raw["runs"]["enprompt"][0]["compile"]["compile_times_s"]


def test_smoke_report_holds_the_goals(smoke):
    _, report, stdout, markdown = smoke
    goals = {g["name"]: g for g in report["goals"]}
    measured = ["step_enprompt_over_reference_c100", "compiled_step_enprompt_over_reference_c100",
                "eval_enprompt_over_zeroshot_c100", "compiled_step_gain_c100", "compiled_eval_gain_c100"]
    unmeasured = ["peak_memory_enprompt_over_reference_c1000", "eval_enprompt_over_zeroshot_c1000",
                  "compiled_step_gain_c1000"]  # their stages were not run
    assert sorted(goals) == sorted(measured + unmeasured)
    assert all(isinstance(goals[n]["value"], float) and goals[n]["value"] > 0 for n in measured)
    assert all(goals[n]["value"] is None and goals[n]["met"] is None for n in unmeasured)
    assert markdown.startswith("# Device check: ") and "smoke mode: tiny shapes, not a measurement" in markdown
    for heading in ("## Goals", "## Stages", "## Tests: cuda-tests", "## Training and evaluation"):
        assert heading in markdown
    for goal in report["goals"]:
        value = "-" if goal["value"] is None else f"{goal['value']:.3f}"
        verdict = {None: "not measured", True: "met", False: "not met"}[goal["met"]]
        assert f"| {goal['what']} | {value} | {goal['target']} | {verdict} |" in markdown
        assert goal["what"] in stdout
    for stage in SMOKE_STAGES:
        assert f"| {stage} | " in markdown


@pytest.mark.slow
def test_smoke_runs_all_six_stages(tmp_path):
    _, report, _, markdown = _smoke(tmp_path / "out")
    assert report["status"] == "complete" and [s["name"] for s in report["stages"]] == STAGES
    assert all(s["status"] == "ok" for s in report["stages"]), report["stages"]
    slow = report["stages"][-1]
    assert slow["collected"] == ["tests/test_compile.py::test_inductor_step_matches_eager_on_the_cpu"]
    assert set(report["benchmarks"]["compiled-c1000"]["designs"]) == {"enprompt"}  # no evaluation there
    assert all(isinstance(g["value"], float) for g in report["goals"])
    assert "not measured" not in markdown


# ---------------------------------------------------------------- the time guard, with stand-in stages


def _junit(path, failed=False):
    case = '<testcase classname="tests.test_x" name="test_a" time="0.1">'
    case += '<failure message="assert 1 == 2">trace</failure></testcase>' if failed else "</testcase>"
    return (f"open({str(path)!r}, 'w').write('<testsuites><testsuite name=\"pytest\">{case}"
            "</testsuite></testsuites>')")


def _stage(tmp_path, name, code, estimate_s=1, limit_s=60, required=True):
    return device_check.Stage(name, f"stand-in {name}", [sys.executable, "-c", code], estimate_s, limit_s,
                              kind="tests", output=f"{name}.xml", required=required)


def _run(monkeypatch, tmp_path, stages, *argv):
    monkeypatch.setenv(device_check.ALLOW_CPU_ENV, "1")
    monkeypatch.setattr(device_check, "plan", lambda out_dir, smoke: stages)
    monkeypatch.setattr(device_check, "_cuda_available", lambda: False)
    out = tmp_path / "out"
    code = device_check.main([str(out), "--smoke", *argv])
    with open(out / "device_check.json") as f:
        return code, json.load(f), (out / "device_check.md").read_text()


def test_first_failure_stops_the_run_with_a_clear_line(monkeypatch, tmp_path, capsys):
    out = tmp_path / "out"
    stages = [_stage(tmp_path, "first", _junit(out / "first.xml")),
              _stage(tmp_path, "second", _junit(out / "second.xml", failed=True) + "; raise SystemExit(1)"),
              _stage(tmp_path, "third", _junit(out / "third.xml"))]
    code, report, markdown = _run(monkeypatch, tmp_path, stages)
    assert code == device_check.EXIT_FAILED and report["status"] == "failed"
    assert [(s["name"], s["status"]) for s in report["stages"]] == [("first", "ok"), ("second", "failed")]
    assert report["first_failure"].startswith("second failed after ")
    assert "1 failed, 0 errors (exit code 1): test_x::test_a" in report["first_failure"]
    assert f"**Stopped: {report['first_failure']}**" in markdown
    assert "[device check] FAILED: second failed" in capsys.readouterr().err


def test_a_stage_past_its_limit_is_stopped_and_fails(monkeypatch, tmp_path):
    stages = [_stage(tmp_path, "slow", "import time; time.sleep(60)", limit_s=1)]
    code, report, _ = _run(monkeypatch, tmp_path, stages)
    stage = report["stages"][0]
    assert code == device_check.EXIT_FAILED
    assert stage["status"] == "failed" and stage["message"] == "ran past its limit of 1 s"
    assert stage["seconds"] < 30


def test_the_budget_stops_a_stage_and_skips_what_does_not_fit(monkeypatch, tmp_path):
    out = tmp_path / "out"
    stages = [_stage(tmp_path, "quick", _junit(out / "quick.xml")),
              _stage(tmp_path, "optional", _junit(out / "optional.xml"), estimate_s=1000, required=False),
              _stage(tmp_path, "long", "import time; time.sleep(60)", estimate_s=0.5, limit_s=100),
              _stage(tmp_path, "never", _junit(out / "never.xml"))]
    code, report, _ = _run(monkeypatch, tmp_path, stages, "--budget-s", "4")
    assert code == device_check.EXIT_INCOMPLETE and report["status"] == "incomplete"
    statuses = [(s["name"], s["status"]) for s in report["stages"]]
    assert statuses == [("quick", "ok"), ("optional", "skipped"), ("long", "out_of_time")]
    assert report["stages"][1]["message"].startswith("not started: ")
    assert report["elapsed_s"] < 30  # stopped at the budget, not after the stage's 60 s


def test_a_required_stage_that_does_not_fit_is_not_started(monkeypatch, tmp_path):
    stages = [_stage(tmp_path, "big", "raise SystemExit(1)", estimate_s=1000)]
    code, report, _ = _run(monkeypatch, tmp_path, stages)
    assert code == device_check.EXIT_INCOMPLETE
    assert report["stages"][0]["status"] == "skipped" and "out of time before big" in report["first_failure"]
    assert not (tmp_path / "out" / "big.log").exists()


def test_only_runs_the_named_stages_and_names_the_choices(monkeypatch, tmp_path, capsys):
    out = tmp_path / "out"
    stages = [_stage(tmp_path, "a", _junit(out / "a.xml")), _stage(tmp_path, "b", "raise SystemExit(1)")]
    code, report, _ = _run(monkeypatch, tmp_path, stages, "--only", "a")
    assert code == 0 and [s["name"] for s in report["stages"]] == ["a"]
    monkeypatch.setattr(device_check, "plan", lambda out_dir, smoke: stages)
    assert device_check.main([str(out), "--smoke", "--only", "c"]) == device_check.EXIT_USAGE
    assert "unknown stages ['c']; the stages are ['a', 'b']" in capsys.readouterr().err


def test_skipped_tests_fail_the_stage_on_a_cuda_machine(tmp_path):
    path = tmp_path / "t.xml"
    path.write_text('<testsuites><testsuite><testcase classname="tests.test_cuda" name="test_a" time="0">'
                    '<skipped message="needs a CUDA device"/></testcase></testsuite></testsuites>')
    assert device_check.check_tests(str(path), 0, skipped_ok=True)["status"] == "ok"
    check = device_check.check_tests(str(path), 0, skipped_ok=False)
    assert check["status"] == "failed"
    assert check["message"] == "1 skipped on a CUDA machine: test_cuda::test_a (needs a CUDA device)"


@pytest.mark.parametrize("entry, status, message", [
    ({"status": "ok"}, "ok", "measured"),
    ({"status": "out_of_memory", "error": "OOM"}, "ok", "measured; out of memory: reference"),
    ({"status": "killed", "error": "signal 9"}, "failed", "reference: killed (signal 9)"),
    ({"status": "ok", "compile": {"fallback": "the first compiled training step failed (X)"}}, "failed",
     "reference: the compiled step fell back to eager (the first compiled training step failed (X))"),
])
def test_bench_stage_status(tmp_path, entry, status, message):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"designs": {"enprompt": {"status": "ok"}, "reference": entry}}))
    assert device_check.check_bench(str(path), 0, compiled=True) == {"status": status, "message": message}
    assert device_check.check_bench(str(path), 1, compiled=True)["status"] == "failed"


def _bench(classes, **designs):
    return {"config": {"classes": classes}, "designs": designs}


def test_goals_from_the_measured_figures():
    mib = 2**20
    benchmarks = {
        "eager-c100": _bench(
            100, enprompt={"status": "ok", "train": {"step_time_s": 0.012}, "eval": {"images_per_s": 900.0}},
            reference={"status": "ok", "train": {"step_time_s": 0.048}}, zeroshot={"eval": {"images_per_s": 1000.0}}),
        "eager-c1000": _bench(
            1000, enprompt={"status": "ok", "train": {"step_time_s": 0.012, "peak_memory_bytes": 600 * mib},
                            "eval": {"images_per_s": 800.0}},
            reference={"status": "ok", "train": {"step_time_s": 0.5, "peak_memory_bytes": 2000 * mib}},
            zeroshot={"eval": {"images_per_s": 1000.0}}),
        "compiled-c100": _bench(100, enprompt={"status": "ok", "train": {"step_time_s": 0.004, "compile_time_s": 40.0},
                                                "eval": {"images_per_s": 1080.0}}),
    }
    by_name = {g["name"]: g for g in device_check.goals(benchmarks)}
    assert by_name["step_enprompt_over_reference_c100"]["value"] == pytest.approx(0.25)
    assert by_name["step_enprompt_over_reference_c100"]["met"] is True
    assert by_name["compiled_step_enprompt_over_reference_c100"]["value"] == pytest.approx(1 / 12)
    assert by_name["peak_memory_enprompt_over_reference_c1000"]["value"] == pytest.approx(0.3)
    assert by_name["peak_memory_enprompt_over_reference_c1000"]["met"] is False  # not under 1/4
    assert by_name["eval_enprompt_over_zeroshot_c100"]["value"] == pytest.approx(0.9)
    assert by_name["eval_enprompt_over_zeroshot_c1000"]["met"] is False  # 0.8 < 0.85
    gain = by_name["compiled_step_gain_c100"]
    assert gain["value"] == pytest.approx(3.0) and gain["met"] is True
    assert gain["note"] == "compile time 40.0 s; it pays back after 5,000 steps"  # 40 s / 8 ms saved per step
    assert by_name["compiled_eval_gain_c100"]["value"] == pytest.approx(1.2)
    assert by_name["compiled_step_gain_c1000"]["value"] is None and by_name["compiled_step_gain_c1000"]["met"] is None

    benchmarks["eager-c1000"]["designs"]["reference"] = {"status": "out_of_memory"}
    memory = {g["name"]: g for g in device_check.goals(benchmarks)}["peak_memory_enprompt_over_reference_c1000"]
    assert memory["met"] is True and memory["note"] == "the reference does not fit in this GPU's memory"
