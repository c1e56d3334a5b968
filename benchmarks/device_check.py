"""The device check: every GPU figure of docs/PERFORMANCE.md, section 5, in one run.

Run from the repository root on a CUDA machine (no network: CLIP is randomly
initialised, as in the benchmarks)::

    benchmarks/device_check.sh OUT_DIR

Stages, in this order; the first failure stops the run:

1. ``cuda-tests``: ``python -m pytest -m cuda tests/test_cuda.py
   tests/test_compile.py`` (fp16, amp and bf16 steps, fp32 learnables, the
   text tower's memory, fp32 losses under autocast, an fp16 base-to-novel run
   through ``train.py``, the compiled step with CUDA graphs). On a CUDA
   machine a skipped test is a failure.
2. ``eager-c100`` and 3. ``eager-c1000``: ``benchmarks/bench_train.py`` on
   ViT-B/16 shapes in fp16 at batch 4, EnPrompt and the reference design, at
   C = 100 and C = 1000: step time, images/s, ``max_memory_allocated``, and
   evaluation against zero-shot ``encode_image``.
4. ``compiled-c100`` and 5. ``compiled-c1000``: EnPrompt again with
   ``TRAINER.ENPROMPT.COMPILE step`` (inductor, CUDA graphs), compile time
   apart. A compiled run that falls back to eager is a failure.
6. ``cpu-inductor-test`` (optional): ``python -m pytest -m slow
   tests/test_compile.py``, inductor's CPU kernels against eager.

Then the goals (docs/PERFORMANCE.md, section 5): EnPrompt's step at most 1/3
of the reference's at C = 100, its peak memory at C = 1000 under 1/4 of the
reference's, its evaluation at least 0.85x zero-shot encoding, and the
compiled step's gain.

Time guard: the whole run has ``--budget-s`` seconds (360: six minutes). A
stage starts only if its estimate fits in what is left; it is stopped at its
own limit (a failure) or when the budget runs out. A required stage that
does not fit ends the run as incomplete; an optional one is skipped. The
step counts are chosen so that the stages fit on one H100/H200-class GPU.

Outputs in ``OUT_DIR``, rewritten after every stage (so an interrupted run
keeps what it measured): ``device_check.json`` (everything), ``device_check.md``
(the tables), and per stage its log and its raw output (JUnit XML, the
benchmark's JSON).

Exit status: 0 complete, 1 a stage failed, 2 no CUDA device or bad
arguments, 3 incomplete (out of time), 130 interrupted.

On a machine without CUDA it stops at once, saying so in its first line. The
script itself (arguments, stages, outputs, the time guard) is checked on a
CPU with tiny shapes, in about a minute (tests/test_device_check.py)::

    DEVICE_CHECK_ALLOW_CPU=1 benchmarks/device_check.sh OUT_DIR --smoke
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.report import machine_info, write_report, write_text  # noqa: E402

JSON_VERSION = 1
DEFAULT_BUDGET_S = 360
ALLOW_CPU_ENV = "DEVICE_CHECK_ALLOW_CPU"
SCRIPT = "benchmarks/device_check.sh"
EXIT_COMPLETE, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
TEST_FILES = ("tests/test_cuda.py", "tests/test_compile.py")
LOG_TAIL_LINES = 30

# The goals of docs/PERFORMANCE.md, section 5.
STEP_RATIO_GOAL = 1 / 3  # EnPrompt's step / the reference's, C = 100: at most
MEMORY_RATIO_GOAL = 1 / 4  # EnPrompt's training peak / the reference's, C = 1000: under
EVAL_RATIO_GOAL = 0.85  # EnPrompt's evaluation throughput / zero-shot encode_image: at least


@dataclass
class Stage:
    """One command of the check.

    Attributes:
        name (str): short name, also of its files in OUT_DIR.
        what (str): one line for the report.
        argv (list[str]): the command (run from the repository root).
        estimate_s (float): expected seconds; the stage starts only if they are left.
        limit_s (float): the stage fails when it runs longer.
        kind (str): ``tests`` (JUnit XML written to ``output``) or ``bench``
            (``bench_train.py`` JSON written to ``output``).
        output (str): file name in OUT_DIR of its raw output.
        required (bool): an optional stage is skipped when out of time.
        compiled (bool): a bench stage of the compiled step (a fallback is a failure).
        collect_only (bool): a tests stage that only collects (smoke mode).
    """

    name: str
    what: str
    argv: list
    estimate_s: float
    limit_s: float
    kind: str
    output: str
    required: bool = True
    compiled: bool = False
    collect_only: bool = False
    record: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- the plan
def _bench_argv(python, out_dir, name, classes, designs, compile_target, steps, warmup, eval_images,
                eval_passes, smoke):
    arch, batch, eval_batch = ("tiny", 2, 2) if smoke else ("ViT-B/16", 4, 100)
    argv = [python, "benchmarks/bench_train.py", "--arch", arch, "--classes", str(classes),
            "--batch-size", str(batch), "--precision", "fp16", "--compile", compile_target, "--designs", designs,
            "--steps", str(steps), "--warmup", str(warmup), "--eval-images", str(eval_images),
            "--eval-batch-size", str(eval_batch), "--eval-passes", str(eval_passes),
            "--json", osp.join(out_dir, f"{name}.json")]
    if smoke:
        # one process for both designs; graphs captured by TorchDynamo without code generation
        argv += ["--isolation", "none", "--threads", "1", "--compile-backend", "eager",
                 "--opts", "TRAINER.ENPROMPT.OT.ITERS", "2"]
    return argv


def plan(out_dir, smoke=False, python=sys.executable):
    """The stages of the check, in order (see the module docstring)."""
    # -n0: in one process (pytest.ini starts a worker per CPU), so the tests have the GPU alone.
    tests = [python, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-n0"]
    small = {"steps": 1, "warmup": 1, "eval_passes": 1}
    stages = [
        Stage("cuda-tests", "the tests marked cuda (precision paths, memory, fp16 run, compiled step)",
              tests + ["-m", "cuda", f"--junitxml={osp.join(out_dir, 'cuda-tests.xml')}", *TEST_FILES],
              estimate_s=90, limit_s=180, kind="tests", output="cuda-tests.xml"),
    ]
    runs = [
        # name, C, designs, compile, steps, warm-up, eval images, eval passes, estimate, limit
        ("eager-c100", 100, "enprompt,reference", "none", 50, 10, 500, 3, 45, 120),
        ("eager-c1000", 1000, "enprompt,reference", "none", 20, 5, 300, 2, 50, 120),
        ("compiled-c100", 100, "enprompt", "step", 50, 10, 500, 3, 90, 180),
        ("compiled-c1000", 1000, "enprompt", "step", 20, 5, 0, 1, 70, 150),
    ]
    for name, classes, designs, target, steps, warmup, eval_images, eval_passes, estimate, limit in runs:
        if smoke:
            classes = 4 if classes == 100 else 8
            steps, warmup, eval_passes = small["steps"], small["warmup"], small["eval_passes"]
            eval_images = 2 if eval_images else 0
        what = (f"bench_train.py, {'TRAINER.ENPROMPT.COMPILE step' if target == 'step' else 'eager'}, "
                f"{designs.replace(',', ' and ')}, C = {classes}")
        stages.append(Stage(
            name, what,
            _bench_argv(python, out_dir, name, classes, designs, target, steps, warmup, eval_images,
                        eval_passes, smoke),
            estimate_s=estimate, limit_s=limit, kind="bench", output=f"{name}.json", compiled=target != "none",
        ))
    slow = tests + ["-m", "slow", f"--junitxml={osp.join(out_dir, 'cpu-inductor-test.xml')}", "tests/test_compile.py"]
    stages.append(Stage(
        "cpu-inductor-test", "the test marked slow: inductor's CPU kernels against eager",
        slow + (["--collect-only"] if smoke else []), estimate_s=60, limit_s=120, kind="tests",
        output="cpu-inductor-test.xml", required=False, collect_only=smoke,
    ))
    if smoke:
        for stage in stages:
            stage.estimate_s, stage.limit_s = 5, 120  # imports and tiny shapes
    return stages


# ---------------------------------------------------------------------------- running a stage
def _stop(process):
    """Stop a stage's process group: SIGTERM, then SIGKILL after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_stage(stage, out_dir, seconds_left, env):
    """Run ``stage`` with at most ``min(limit, seconds_left)`` seconds; returns its record."""
    log_path = osp.join(out_dir, f"{stage.name}.log")
    timeout = min(stage.limit_s, seconds_left)
    record = {
        "name": stage.name, "what": stage.what, "command": " ".join(stage.argv), "required": stage.required,
        "estimate_s": stage.estimate_s, "limit_s": stage.limit_s, "log": osp.basename(log_path),
        "output": stage.output,
    }
    start = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(stage.argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            returncode = None
        except BaseException:  # KeyboardInterrupt: do not leave the stage running
            _stop(process)
            raise
    record["seconds"] = time.monotonic() - start
    record["returncode"] = returncode
    if returncode is None:
        if timeout < stage.limit_s:
            record["status"] = "out_of_time"
            record["message"] = f"stopped when the time budget ran out ({timeout:.0f} s)"
        else:
            record["status"], record["message"] = "failed", f"ran past its limit of {stage.limit_s:.0f} s"
        return record
    output = osp.join(out_dir, stage.output)
    if stage.kind == "tests":
        check = check_collected(log_path) if stage.collect_only else check_tests(output, returncode)
    else:
        check = check_bench(output, returncode, stage.compiled)
    record.update(check)
    return record


def _log_tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def parse_junit(path):
    """``{"counts": {...}, "tests": [{"name", "outcome", "seconds", "message"}]}`` of a JUnit XML file."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").strip().splitlines()[0][:300] if child.get("message") else ""
                break
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        cases.append({"name": name, "outcome": outcome, "seconds": float(case.get("time") or 0), "message": message})
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error", "skipped")}
    counts["total"] = len(cases)
    return {"counts": counts, "tests": cases}


def check_tests(xml_path, returncode, skipped_ok=None):
    """Status of a pytest stage from its JUnit file; on a CUDA machine nothing may be skipped."""
    if skipped_ok is None:
        skipped_ok = not _cuda_available()
    if not osp.isfile(xml_path):
        return {"status": "failed", "message": f"pytest wrote no report (exit code {returncode})"}
    junit = parse_junit(xml_path)
    counts = junit["counts"]
    out = {"tests": junit}
    bad = [t["name"] for t in junit["tests"] if t["outcome"] in ("failed", "error")]
    skipped = [f"{t['name']} ({t['message']})" for t in junit["tests"] if t["outcome"] == "skipped"]
    if bad or returncode not in (0,):
        detail = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        return {**out, "status": "failed",
                "message": f"{counts['failed']} failed, {counts['error']} errors (exit code {returncode}): {detail}"}
    if counts["total"] == 0:
        return {**out, "status": "failed", "message": "no test was collected"}
    if skipped and not skipped_ok:
        return {**out, "status": "failed", "message": f"{len(skipped)} skipped on a CUDA machine: {skipped[0]}"}
    return {**out, "status": "ok", "message": f"{counts['passed']} passed, {counts['skipped']} skipped"}


def check_collected(log_path):
    """Status of a ``--collect-only`` pytest stage: at least one test id in its log."""
    with open(log_path, errors="replace") as f:
        ids = [line.strip() for line in f if "::test_" in line]
    if not ids:
        return {"status": "failed", "message": "no test was collected"}
    return {"status": "ok", "message": f"{len(ids)} collected (not run: smoke mode)", "collected": ids}


def check_bench(json_path, returncode, compiled):
    """Status of a ``bench_train.py`` stage from its JSON report."""
    if returncode != 0 or not osp.isfile(json_path):
        return {"status": "failed", "message": f"bench_train.py ended with exit code {returncode}"}
    with open(json_path) as f:
        report = json.load(f)
    designs = report.get("designs", {})
    for name, entry in designs.items():
        if entry.get("status") not in ("ok", "out_of_memory"):
            return {"status": "failed", "message": f"{name}: {entry.get('status')} ({entry.get('error')})"}
        fallback = (entry.get("compile") or {}).get("fallback")
        if compiled and fallback:
            return {"status": "failed", "message": f"{name}: the compiled step fell back to eager ({fallback})"}
    oom = [n for n, e in designs.items() if e.get("status") == "out_of_memory"]
    message = "measured" + (f"; out of memory: {', '.join(oom)}" if oom else "")
    for name, entry in designs.items():
        skips = (entry.get("compile") or {}).get("cudagraph_skips")
        if skips:
            message += f"; {name}: {skips} graph(s) ran without CUDA graphs (inductor's warning is in the log)"
    return {"status": "ok", "message": message}


def _cuda_available():
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------------------- goals and report
def _get(node, *keys):
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def _goal(name, what, value, target, met, note=""):
    return {"name": name, "what": what, "value": value, "target": target, "met": met, "note": note}


def goals(benchmarks):
    """The goals of docs/PERFORMANCE.md, section 5, from the bench reports by stage name."""
    eager100, eager1000 = benchmarks.get("eager-c100"), benchmarks.get("eager-c1000")
    compiled100, compiled1000 = benchmarks.get("compiled-c100"), benchmarks.get("compiled-c1000")
    out = []

    def step(report, design):
        return _get(report, "designs", design, "train", "step_time_s")

    def classes(report, nominal):  # as run (smoke mode runs fewer)
        return _get(report, "config", "classes") or nominal

    c100, c1000 = classes(eager100, 100), classes(eager1000, 1000)
    value = _ratio(step(eager100, "enprompt"), step(eager100, "reference"))
    out.append(_goal("step_enprompt_over_reference_c100", f"EnPrompt's training step / the reference's, C = {c100}",
                     value, "<= 1/3", None if value is None else value <= STEP_RATIO_GOAL))
    value = _ratio(step(compiled100, "enprompt"), step(eager100, "reference"))
    out.append(_goal("compiled_step_enprompt_over_reference_c100",
                     f"EnPrompt's compiled step / the reference's (eager), C = {c100}",
                     value, "<= 1/3", None if value is None else value <= STEP_RATIO_GOAL))

    what = f"EnPrompt's training peak memory / the reference's, C = {c1000}"
    if _get(eager1000, "designs", "reference", "status") == "out_of_memory":
        out.append(_goal("peak_memory_enprompt_over_reference_c1000", what, None, "< 1/4", True,
                         "the reference does not fit in this GPU's memory"))
    else:
        peak = _ratio(_get(eager1000, "designs", "enprompt", "train", "peak_memory_bytes"),
                      _get(eager1000, "designs", "reference", "train", "peak_memory_bytes"))
        out.append(_goal("peak_memory_enprompt_over_reference_c1000", what,
                         peak, "< 1/4", None if peak is None else peak < MEMORY_RATIO_GOAL))

    for report, label, nominal in ((eager100, c100, 100), (eager1000, c1000, 1000)):
        value = _ratio(_get(report, "designs", "enprompt", "eval", "images_per_s"),
                       _get(report, "designs", "zeroshot", "eval", "images_per_s"))
        out.append(_goal(f"eval_enprompt_over_zeroshot_c{nominal}",
                         f"EnPrompt's evaluation throughput / zero-shot encode_image, C = {label}",
                         value, ">= 0.85", None if value is None else value >= EVAL_RATIO_GOAL))

    for eager, compiled, label, nominal in ((eager100, compiled100, c100, 100), (eager1000, compiled1000, c1000, 1000)):
        gain = _ratio(step(eager, "enprompt"), step(compiled, "enprompt"))
        compile_time = _get(compiled, "designs", "enprompt", "train", "compile_time_s")
        note = f"compile time {compile_time:.1f} s" if isinstance(compile_time, (int, float)) else ""
        if note and gain is not None and gain > 1:
            saved = step(eager, "enprompt") - step(compiled, "enprompt")
            note += f"; it pays back after {compile_time / saved:,.0f} steps"
        out.append(_goal(f"compiled_step_gain_c{nominal}", f"EnPrompt's eager step / its compiled step, C = {label}",
                         gain, "> 1 (reported)", None if gain is None else gain > 1, note))
        eval_gain = _ratio(_get(compiled, "designs", "enprompt", "eval", "images_per_s"),
                           _get(eager, "designs", "enprompt", "eval", "images_per_s"))
        if eval_gain is not None:
            out.append(_goal(f"compiled_eval_gain_c{nominal}",
                             f"EnPrompt's compiled evaluation / its eager evaluation, C = {label}",
                             eval_gain, "> 1 (reported)", eval_gain > 1))
    return out


def _fmt(value, spec, scale=1.0, unit=""):
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value / scale:{spec}}{unit}"


def _verdict(goal):
    if goal["met"] is None:
        return "not measured"
    return "met" if goal["met"] else "not met"


def figures_rows(benchmarks):
    """One row per (stage, design) of what the bench runs measured."""
    rows = []
    for stage, report in benchmarks.items():
        for design in ("enprompt", "reference", "zeroshot"):
            entry = _get(report, "designs", design)
            if not entry:
                continue
            train, evaluation = entry.get("train") or {}, entry.get("eval") or {}
            rows.append({
                "stage": stage, "design": design, "classes": _get(report, "config", "classes"),
                "status": entry.get("status"),
                "step_ms": _fmt(train.get("step_time_s"), ".2f", 1e-3),
                "images_per_s": _fmt(train.get("images_per_s"), ",.0f"),
                "train_peak_mib": _fmt(train.get("peak_memory_bytes"), ",.0f", 2**20),
                "eval_images_per_s": _fmt(evaluation.get("images_per_s"), ",.0f"),
                "eval_peak_mib": _fmt(evaluation.get("peak_memory_bytes"), ",.0f", 2**20),
                "compile_s": _fmt(train.get("compile_time_s"), ".1f"),
                "final_loss": _fmt(train.get("final_loss"), ".4f"),
            })
    return rows


def format_markdown(report):
    machine = report.get("machine") or {}
    device = machine.get("gpu") or machine.get("cpu_model") or "?"
    mode = ", smoke mode: tiny shapes, not a measurement" if report["mode"] == "smoke" else ""
    lines = [
        f"# Device check: {device} ({report['status']}{mode})",
        "",
        f"Command: `{report['command']}` ({report['mode']} mode), started {report['started']}, "
        f"{report['elapsed_s']:.0f} s of a {report['budget_s']:.0f} s budget.",
        "",
        f"Machine: {device}"
        + (f" ({machine['gpu_memory_bytes'] / 2**30:.1f} GiB)" if machine.get("gpu_memory_bytes") else "")
        + f", CUDA {machine.get('cuda') or '-'}, cuDNN {machine.get('cudnn') or '-'}, driver "
        f"{machine.get('driver') or '-'}, torch {machine.get('torch')}, Triton {machine.get('triton') or '-'}, "
        f"Python {machine.get('python')}; CPU {machine.get('cpu_model')} ({machine.get('cpus_usable')} usable).",
        "",
    ]
    if report.get("first_failure"):
        lines += [f"**Stopped: {report['first_failure']}**", ""]
    lines += ["## Goals", "", "| goal | measured | target | verdict | note |", "|---|---:|---|---|---|"]
    for goal in report["goals"]:
        lines.append(f"| {goal['what']} | {_fmt(goal['value'], '.3f')} | {goal['target']} | {_verdict(goal)} "
                     f"| {goal['note']} |")
    lines += ["", "## Stages", "", "| stage | what | status | seconds | |", "|---|---|---|---:|---|"]
    for stage in report["stages"]:
        lines.append(f"| {stage['name']} | {stage['what']} | {stage['status']} | "
                     f"{_fmt(stage.get('seconds'), '.1f')} | {stage.get('message', '')} |")
    for name, tests in report["tests"].items():
        counts = tests["counts"]
        lines += ["", f"## Tests: {name}", "",
                  f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
                  f"{counts['skipped']} skipped.", "", "| test | outcome | seconds |", "|---|---|---:|"]
        for test in tests["tests"]:
            outcome = test["outcome"] + (f" ({test['message']})" if test["message"] else "")
            lines.append(f"| {test['name']} | {outcome} | {test['seconds']:.1f} |")
    rows = figures_rows(report["benchmarks"])
    if rows:
        lines += ["", "## Training and evaluation", "",
                  "fp16, batch 4 in training and 100 in evaluation, random CLIP weights; medians. Peak memory: "
                  "`torch.cuda.max_memory_allocated` of the phase (on a CPU: peak resident set).", "",
                  "| run | design | C | step (ms) | train images/s | train peak (MiB) | eval images/s "
                  "| eval peak (MiB) | compile (s) | final loss |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            lines.append(
                f"| {row['stage']} | {row['design']} | {row['classes']} | {row['step_ms']} | {row['images_per_s']} "
                f"| {row['train_peak_mib']} | {row['eval_images_per_s']} | {row['eval_peak_mib']} "
                f"| {row['compile_s']} | {row['final_loss']} |")
    return "\n".join(lines)


def run_stages(stages, report, out_dir, budget_s, env, save):
    """Run ``stages`` in order within ``budget_s`` seconds, filling ``report`` (``save()`` after each).

    Returns ``(status, exit code)``: complete, failed (the first failure
    stops the run), or incomplete (a required stage did not fit or the budget
    ran out during it).
    """
    deadline = time.monotonic() + budget_s
    for index, stage in enumerate(stages, 1):
        left = deadline - time.monotonic()
        if left < stage.estimate_s:
            message = f"not started: {left:.0f} s left, it needs about {stage.estimate_s:.0f} s"
            report["stages"].append({"name": stage.name, "what": stage.what, "command": " ".join(stage.argv),
                                     "required": stage.required, "status": "skipped", "message": message})
            print(f"[device check] {stage.name}: {message}", flush=True)
            if stage.required:
                report["first_failure"] = f"out of time before {stage.name} ({message})"
                return "incomplete", EXIT_INCOMPLETE
            continue
        print(f"[device check] {index}/{len(stages)} {stage.name}: {stage.what} "
              f"(limit {min(stage.limit_s, left):.0f} s)", flush=True)
        record = run_stage(stage, out_dir, left, env)
        report["stages"].append(record)
        if "tests" in record:
            report["tests"][stage.name] = record.pop("tests")
        output = osp.join(out_dir, stage.output)
        if stage.kind == "bench" and osp.isfile(output):
            with open(output) as f:
                bench = json.load(f)
            report["benchmarks"][stage.name] = {k: bench.get(k) for k in ("command", "config", "designs", "ratios")}
        print(f"[device check] {stage.name}: {record['status']} in {record['seconds']:.1f} s, "
              f"{record.get('message', '')}", flush=True)
        save()
        if record["status"] != "ok":
            report["first_failure"] = (f"{stage.name} {record['status']} after {record['seconds']:.0f} s: "
                                       f"{record.get('message', '')}")
            out_of_time = record["status"] == "out_of_time"
            print(f"[device check] {'STOPPED' if out_of_time else 'FAILED'}: {report['first_failure']} "
                  f"(log: {osp.join(out_dir, record['log'])})", file=sys.stderr)
            print(_log_tail(osp.join(out_dir, record["log"])), file=sys.stderr, end="")
            return ("incomplete", EXIT_INCOMPLETE) if out_of_time else ("failed", EXIT_FAILED)
    return "complete", EXIT_COMPLETE


# ---------------------------------------------------------------------------- main
def _machine(device_type):
    import importlib.metadata

    import torch

    info = machine_info(torch.device(device_type))
    try:
        info["triton"] = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        info["triton"] = None
    info["driver"] = None
    if device_type == "cuda" and shutil.which("nvidia-smi"):
        try:
            query = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=20)
            info["driver"] = query.stdout.strip().splitlines()[0] if query.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, IndexError):
            pass
    return info


def build_parser():
    parser = argparse.ArgumentParser(
        prog=SCRIPT, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Exit status: 0 complete, 1 a stage failed, 2 no CUDA device or bad arguments, 3 out of time. "
        f"On a CPU, {ALLOW_CPU_ENV}=1 with --smoke runs the plumbing with tiny shapes.",
    )
    parser.add_argument("out_dir", help="folder for device_check.json, device_check.md and each stage's files")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes: a check of the script, not a measurement")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="time for the whole run (s)")
    parser.add_argument("--only", default="", help="comma list of stage names to run (e.g. to rerun one)")
    return parser


def main(argv=None):
    """Run the check; returns the exit status."""
    started = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # prints nothing unless the arguments are wrong or --help
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not (os.environ.get(ALLOW_CPU_ENV) == "1" and args.smoke):
        print(f"{SCRIPT}: needs a CUDA device (torch {torch.__version__}: torch.cuda.is_available() is False). "
              f"To check the script itself on a CPU: {ALLOW_CPU_ENV}=1 {SCRIPT} OUT_DIR --smoke", file=sys.stderr)
        return EXIT_USAGE
    out_dir = osp.abspath(args.out_dir)
    stages = plan(out_dir, smoke=args.smoke)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {s.name for s in stages})
        if unknown:
            print(f"{SCRIPT}: --only {args.only}: unknown stages {unknown}; the stages are "
                  f"{[s.name for s in stages]}", file=sys.stderr)
            return EXIT_USAGE
        stages = [s for s in stages if s.name in names]
    os.makedirs(out_dir, exist_ok=True)

    device_type = "cuda" if cuda else "cpu"
    report = {
        "version": JSON_VERSION,
        "command": " ".join([SCRIPT, *argv]),
        "mode": "smoke" if args.smoke else "full",
        "status": "running",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": 0.0,
        "budget_s": args.budget_s,
        "machine": _machine(device_type),
        "stages": [],
        "tests": {},
        "benchmarks": {},
        "goals": [],
        "first_failure": None,
    }
    cache = tempfile.mkdtemp(prefix="device-check-inductor-")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", cache)  # fresh: compile times of this run, kernels shared by its stages

    def save():
        report["elapsed_s"] = time.monotonic() - started
        report["goals"] = goals(report["benchmarks"])
        write_report(report, osp.join(out_dir, "device_check.json"), quiet=True)
        write_text(format_markdown(report), osp.join(out_dir, "device_check.md"))

    try:
        status, code = run_stages(stages, report, out_dir, args.budget_s - (time.monotonic() - started), env, save)
    except KeyboardInterrupt:
        status, code = "interrupted", EXIT_INTERRUPTED
        report["first_failure"] = "interrupted"
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    report["status"] = status
    save()
    print(f"[device check] {status} in {report['elapsed_s']:.0f} s: {osp.join(out_dir, 'device_check.md')}",
          flush=True)
    for goal in report["goals"]:
        print(f"  {goal['what']}: {_fmt(goal['value'], '.3f')} (target {goal['target']}: {_verdict(goal)})"
              + (f"; {goal['note']}" if goal["note"] else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
