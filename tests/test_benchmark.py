"""A reduced run of benchmarks/bench_train.py, so that the benchmark cannot rot.

Tiny CLIP, C = 5, two steps. No timing is asserted; what is asserted is the
report's structure, that every figure is a positive finite number, and the
design difference the benchmark exists to show: the reference design runs the
text encoder at every training step and every test batch, EnPrompt never
after building, and its attention takes the fused kernel.
"""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from benchmarks import bench_train
from tests.child_process import assert_succeeded
from tests.paths import REPO

SCRIPT = osp.join(REPO, "benchmarks", "bench_train.py")

SMALL_RUN = [
    "--arch", "tiny", "--classes", "5", "--batch-size", "2", "--precision", "fp32",
    "--steps", "2", "--warmup", "1", "--eval-images", "3", "--eval-batch-size", "2",
    "--eval-passes", "1", "--quiet",
]


def _positive_finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report(tmp_path_factory, torch_single_thread_module):
    path = tmp_path_factory.mktemp("bench") / "out.json"
    returned = bench_train.main(SMALL_RUN + ["--isolation", "none", "--json", str(path)])
    with open(path) as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(returned))
    return written


def test_report_structure_and_values(report):
    assert {"version", "command", "config", "machine", "designs", "ratios", "runs"} <= set(report)
    assert report["config"]["classes"] == 5 and report["config"]["isolation"] == "none"
    machine = report["machine"]
    assert machine["device"] in ("cpu", "cuda") and machine["torch"] and machine["cpu_model"]
    assert machine["precision"] == "fp32" and machine["threads"] >= 1
    assert set(report["designs"]) == {"enprompt", "reference", "zeroshot"}
    for design in ("enprompt", "reference"):
        entry = report["designs"][design]
        assert entry["status"] == "ok", entry
        train, evaluation = entry["train"], entry["eval"]
        for value in (train["step_time_s"], train["images_per_s"], train["peak_memory_bytes"],
                      train["start_memory_bytes"], evaluation["images_per_s"], evaluation["peak_memory_bytes"],
                      entry["learnable_params"]):
            assert _positive_finite(value), (design, train, evaluation)
        assert train["memory_kind"] in ("rss_peak", "cuda_max_allocated")
        assert train["ops_per_step"]["non_view"] > 0
        run = report["runs"][design][0]
        assert len(run["train"]["step_times_s"]) == 2
        assert all(_positive_finite(t) for t in run["train"]["step_times_s"])
        assert math.isfinite(run["train"]["final_loss"])
    assert _positive_finite(report["designs"]["zeroshot"]["eval"]["images_per_s"])
    for name in ("train_step_time_reference_over_enprompt", "train_peak_memory_reference_over_enprompt",
                 "eval_throughput_enprompt_over_zeroshot", "eval_throughput_reference_over_enprompt"):
        assert _positive_finite(report["ratios"][name]), name


def test_text_encoder_runs_per_step_only_in_the_reference(report):
    enprompt, reference = report["designs"]["enprompt"], report["designs"]["reference"]
    assert enprompt["text_encoder_passes_at_build"] == 1  # T, once for the class list
    assert enprompt["train"]["text_encoder_passes_per_step"] == 0
    assert enprompt["eval"]["text_encoder_passes_per_batch"] == 0
    assert enprompt["text_tower_device"] == "cpu"
    assert reference["train"]["text_encoder_passes_per_step"] == 1
    assert reference["eval"]["text_encoder_passes_per_batch"] == 1
    assert report["designs"]["zeroshot"]["eval"]["text_encoder_passes_per_batch"] == 0
    # the reference does the text encoder's work on top of the same image side
    assert reference["train"]["ops_per_step"]["non_view"] > enprompt["train"]["ops_per_step"]["non_view"]


def test_attention_takes_the_fused_kernel(report):
    ops = report["designs"]["enprompt"]["attention_ops"]
    assert any(name.startswith("_scaled_dot_product") for name in ops), ops
    assert not any("softmax" in name or name in ("bmm", "baddbmm") for name in ops), ops


def _table_rows(table):
    rows = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| design"):
            cells = [c.strip() for c in line.split("|")[1:-1]]
            rows[cells[0]] = cells[1:]
    return rows


def test_table_shows_each_designs_figures(report):
    table = bench_train.format_table(report)
    assert table.startswith("tiny, C = 5, batch 2, fp32 on ")
    rows = _table_rows(table)
    assert set(rows) == {"enprompt", "reference", "zero-shot encode_image"}
    for design in ("enprompt", "reference"):
        train, evaluation = report["designs"][design]["train"], report["designs"][design]["eval"]
        step, img_s, _, text_passes, ops, eval_img_s, _, test_passes = rows[design]
        assert step == f"{train['step_time_s']:.3f}" and img_s == f"{train['images_per_s']:.2f}"
        assert (text_passes, test_passes) == ({"enprompt": ("0", "0"), "reference": ("1", "1")}[design])
        assert ops == str(train["ops_per_step"]["non_view"])
        assert eval_img_s == f"{evaluation['images_per_s']:.2f}"
    assert rows["zero-shot encode_image"][0] == "-"  # evaluation only
    for name, value in report["ratios"].items():
        assert f"{name}: {value:.3f}" in table

    failed = json.loads(json.dumps(report))
    failed["designs"]["reference"] = {"status": "out_of_memory", "error": "MemoryError: 2 GiB"}
    assert _table_rows(bench_train.format_table(failed))["reference"][0] == "out_of_memory (MemoryError: 2 GiB)"


def test_training_step_is_the_trainers_with_its_nan_check(monkeypatch):
    """The timed step is ``trainers.enprompt.enprompt_step``, NaN check and host reads included."""
    import torch

    import trainers.enprompt
    from enprompt.model import EnPromptCLIP

    args = bench_train.parse_args(SMALL_RUN)
    cfg = bench_train.build_cfg(args)
    clip_model = bench_train.load_benchmark_clip(args).float().requires_grad_(False)
    model, params = bench_train.build_design(
        "enprompt", cfg, clip_model, bench_train.synthetic_classnames(5), torch.device("cpu"), args)
    counter = bench_train.CallCounter(clip_model.ln_final)

    calls = []
    trainer_step = trainers.enprompt.enprompt_step
    monkeypatch.setattr(trainers.enprompt, "enprompt_step", lambda *a: calls.append(a) or trainer_step(*a))
    result = bench_train.measure_training(model, params, cfg, "fp32", torch.device("cpu"), args, counter)
    assert len(calls) == args.warmup + args.steps + 1  # the timed steps and the op-counted one
    assert math.isfinite(result["final_loss"])

    original_forward = EnPromptCLIP.forward

    def nan_ot(self, images, labels=None):
        output = original_forward(self, images, labels)
        output["loss_ot"] = output["loss_ot"] * float("nan")
        output["loss"] = output["loss_ce"] + output["loss_ot"]
        return output

    monkeypatch.setattr(EnPromptCLIP, "forward", nan_ot)
    with pytest.raises(FloatingPointError, match=r"loss = nan, loss_ce = [\d.]+, loss_ot = nan"):
        bench_train.measure_training(model, params, cfg, "fp32", torch.device("cpu"), args, counter)


def test_each_design_in_its_own_process(tmp_path):
    """The default isolation: a child process per design, peak RSS reset per phase."""
    path = tmp_path / "out.json"
    args = [a for a in SMALL_RUN if a != "--quiet"]
    args = args[: args.index("--eval-images")] + ["--eval-images", "0", "--eval-passes", "1", "--quiet"]
    completed = subprocess.run(
        [sys.executable, SCRIPT, *args, "--designs", "enprompt", "--threads", "1", "--json", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert_succeeded(completed, "bench_train.py")
    assert "| enprompt |" in completed.stdout
    with open(path) as f:
        report = json.load(f)
    run = report["runs"]["enprompt"][0]
    assert run["status"] == "ok" and report["config"]["isolation"] == "process"
    assert "eval" not in run
    memory = run["train"]["memory"]
    assert memory["peak_bytes"] >= memory["start_bytes"] > 0
    if run["machine"]["device"] == "cpu":
        assert memory["resettable"] and run["memory_budget_bytes"] > 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="--designs"):
        bench_train.parse_args(["--designs", "coop"])
    with pytest.raises(ValueError, match="--steps must be >= 1"):
        bench_train.parse_args(["--steps", "0"])
