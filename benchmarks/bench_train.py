"""Training and evaluation cost of EnPrompt vs a design that re-encodes class prompts.

For one backbone, class count C, batch size and precision, on the current
device (CUDA when available, else the CPU), this measures for each design:

* training: the median step time over ``--steps`` steps after ``--warmup``
  steps, and images per second. The step is the trainer's own
  (``trainers.enprompt.enprompt_step``, which ``EnPrompt.forward_backward``
  calls): autocast forward, the NaN check of the loss terms, zero_grad,
  backward, optimizer step (through a ``GradScaler`` under ``amp``) and the
  loss terms and batch accuracy read back to the host;
* evaluation: images per second over ``--eval-images`` synthetic test images in
  batches of ``--eval-batch-size``, prompt learner in eval mode and under
  ``torch.no_grad()``, as ``trainer.test()`` runs the model;
* peak memory of each phase: ``torch.cuda.max_memory_allocated`` on a GPU; on
  the CPU the peak resident set size (``VmHWM``), reset at the start of the
  phase through ``/proc/self/clear_refs``;
* how often CLIP's text encoder runs per training step and per test batch
  (counted with a forward hook on its final layer norm);
* the tensor operations one training step dispatches (``ops_per_step``): a
  batch-4 step on a GPU is bound by kernel launches, so this device-independent
  count is what decides its time there;
* which attention kernel CLIP's ``nn.MultiheadAttention`` reaches
  (``attention_ops``: fused ``scaled_dot_product_attention`` or not).

Designs (see ``benchmarks/reference_design.py``):

* ``enprompt``: the library's model, built as the trainer builds it;
* ``reference``: the same model whose text side re-encodes learnable
  CoOp-style prompts with the frozen text encoder at every forward pass;
* ``zeroshot``: plain ``clip_model.encode_image`` throughput, the evaluation
  baseline. It is measured in the ``enprompt`` process, its passes
  interleaved with EnPrompt's so that both see the same machine load.

By default every design runs in its own child process (``--isolation process``),
so that a peak RSS belongs to one design only, and the designs alternate over
``--repeats``. CLIP is random (``--arch``, ``--seed``): a step costs the same
whatever the weight values. ``--clip-weights`` loads a real checkpoint instead.

Example::

    python benchmarks/bench_train.py --arch ViT-B/16 --classes 100 --batch-size 4 \\
        --precision fp32 --steps 10 --warmup 2 --eval-images 200 --json out.json
"""
import argparse
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmarks.report import machine_info, mem_available_bytes, write_report  # noqa: E402

DESIGNS = ("enprompt", "reference")
ARCHS = ("tiny", "ViT-B/16", "ViT-B/32", "ViT-L/14")
DEFAULT_CONFIG = osp.join(REPO_ROOT, "configs", "trainers", "EnPrompt", "vit_b16_c4_ep5_batch4_base2new.yaml")
JSON_VERSION = 1


# ---------------------------------------------------------------------------- arguments
def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="ViT-B/16", choices=ARCHS, help="CLIP architecture (random weights)")
    parser.add_argument("--clip-weights", default="", help="a real CLIP checkpoint instead of random weights")
    parser.add_argument("--classes", type=int, default=100, help="number of classes C")
    parser.add_argument("--batch-size", type=int, default=4, help="training batch size")
    parser.add_argument(
        "--precision", default=None, choices=("fp16", "fp32", "amp", "bf16"),
        help="TRAINER.ENPROMPT.PREC (default: the config's; fp16 becomes fp32 on a CPU)",
    )
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--eval-images", type=int, default=200, help="test images per eval pass (0: no eval)")
    parser.add_argument("--eval-batch-size", type=int, default=100, help="test batch size (configs: 100)")
    parser.add_argument("--eval-passes", type=int, default=2, help="timed eval passes per run (median)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help=f"comma list of {list(DESIGNS)}")
    parser.add_argument("--repeats", type=int, default=1, help="runs per design, alternating designs")
    parser.add_argument(
        "--isolation", default="process", choices=("process", "none"),
        help="process: each design run in its own child process (honest peak RSS); none: in this process",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--n-ctx-text", type=int, default=4, help="learnable text context tokens (reference)")
    parser.add_argument(
        "--reference-checkpoint-text", action="store_true",
        help="reference: recompute text-layer activations in backward (less memory, one more text forward)",
    )
    parser.add_argument("--config-file", default=DEFAULT_CONFIG, help="EnPrompt trainer config (yaml)")
    parser.add_argument(
        "--memory-limit-gb", type=float, default=None,
        help="CPU, process isolation: address-space limit of a child, so that a design that does not fit "
        "fails with out_of_memory instead of swapping or being killed (default: 85%% of MemAvailable)",
    )
    parser.add_argument(
        "--opts", nargs=argparse.REMAINDER, default=[],
        help="config overrides KEY VALUE ..., as for train.py (e.g. TRAINER.ENPROMPT.OT.ENABLE False); last",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    # Internal: the child process entry point.
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", default="", help=argparse.SUPPRESS)
    return parser


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown or not designs:
        raise ValueError(f"--designs {args.designs!r}: unknown {unknown}; choose from {list(DESIGNS)}")
    args.design_list = designs
    for name in ("classes", "batch_size", "steps", "repeats", "eval_batch_size", "eval_passes", "n_ctx_text"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("warmup", "eval_images", "threads"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.clip_weights and not osp.isfile(args.clip_weights):
        raise FileNotFoundError(f'--clip-weights "{args.clip_weights}" does not exist')
    if not osp.isfile(args.config_file):
        raise FileNotFoundError(f'--config-file "{args.config_file}" does not exist')
    return args


def _log(args, message):
    if not args.quiet:
        print(message, flush=True)


# ---------------------------------------------------------------------------- memory
def _proc_status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class PeakMemory:
    """Peak memory of one phase of the current process.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
    CPU: ``VmHWM`` of ``/proc/self/status`` after writing ``5`` to
    ``/proc/self/clear_refs`` (which resets the peak to the current RSS); where
    that is not possible the process-lifetime peak (``ru_maxrss``) is reported
    with ``resettable = False``.
    """

    def __init__(self, device):
        self.device = device
        self.start_bytes = None
        self.resettable = True

    @property
    def kind(self):
        return "cuda_max_allocated" if self.device.type == "cuda" else "rss_peak"

    def reset(self):
        import torch

        _release_free_heap()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_bytes = torch.cuda.memory_allocated(self.device)
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.start_bytes = _proc_status_bytes("VmRSS")
        except (OSError, KeyError):
            import resource

            self.resettable = False
            self.start_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def read(self):
        """``{"kind", "peak_bytes", "start_bytes", "resettable"}`` since :meth:`reset`."""
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.resettable:
            peak = _proc_status_bytes("VmHWM")
        else:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"kind": self.kind, "peak_bytes": int(peak), "start_bytes": int(self.start_bytes),
                "resettable": self.resettable}


def _release_free_heap():
    """Return freed heap memory to the OS (glibc ``malloc_trim``), so that the
    resident set at the start of a phase holds live memory only."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _is_out_of_memory(err):
    import torch

    if isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


# ---------------------------------------------------------------------------- models
def build_cfg(args):
    """The trainer config: defaults, EnPrompt keys, ``--config-file``, then the flags."""
    from enprompt.config import add_enprompt_config, check_enprompt_cfg
    from enprompt.dassl import get_cfg_default

    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.DATASET.NAME = "ImageNet"  # selects the template "a photo of a {}."
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = args.batch_size
    cfg.DATALOADER.TEST.BATCH_SIZE = args.eval_batch_size
    if args.precision is not None:
        cfg.TRAINER.ENPROMPT.PREC = args.precision
    if args.opts:
        cfg.merge_from_list(args.opts)
    check_enprompt_cfg(cfg)
    return cfg


def synthetic_classnames(n_classes):
    """C distinct class names (every prompt is padded to 77 tokens, so names do not change the cost)."""
    return [f"object category {i}" for i in range(n_classes)]


def load_benchmark_clip(args):
    """CLIP in its native fp16 layout on the CPU: random (``--arch``) or ``--clip-weights``."""
    if args.clip_weights:
        from enprompt.clip_loader import load_clip

        backbone = args.arch if args.arch != "tiny" else "ViT-B/16"
        return load_clip(backbone, args.clip_weights, download=False)
    from enprompt.tiny_clip import build_random_clip

    return build_random_clip(args.arch, seed=args.seed, half=True)


def build_design(design, cfg, clip_model, classnames, device, args):
    """``(model, learnable parameters)`` of a design, on ``device``."""
    from enprompt.model import EnPromptLearner, OTAlignmentLoss, build_enprompt_model
    from enprompt.templates import get_templates

    if design == "enprompt":
        model = build_enprompt_model(cfg, clip_model, classnames, device=device)
        return model, list(model.prompt_learner.parameters())

    from benchmarks.reference_design import ReencodedTextPromptCLIP

    ep = cfg.TRAINER.ENPROMPT
    prompt_learner = EnPromptLearner(
        embed_dim=clip_model.visual.output_dim,
        vision_width=clip_model.visual.conv1.out_channels,
        n_ctx=ep.N_CTX_VISION,
        depth=ep.PROMPT_DEPTH_VISION,
        enla_enabled=False,
        sf_enabled=ep.SF.ENABLE,
        sf_rank=ep.SF.RANK,
    )
    ot_loss = OTAlignmentLoss(eps=ep.OT.EPS, n_iters=ep.OT.ITERS, solver=ep.OT.SOLVER) if ep.OT.ENABLE else None
    model = ReencodedTextPromptCLIP(
        clip_model,
        classnames,
        get_templates(cfg.DATASET.NAME, ep.TEMPLATES),
        prompt_learner,
        ot_loss=ot_loss,
        ot_weight=ep.OT.WEIGHT,
        device=device,
        n_ctx_text=args.n_ctx_text,
        checkpoint_text_layers=args.reference_checkpoint_text,
    )
    return model, model.learnable_parameters()


class CallCounter:
    """Counts forward calls of a module (a forward hook)."""

    def __init__(self, module):
        self.count = 0
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.count += 1

    def remove(self):
        self._handle.remove()


def attention_ops(block, tokens, batch, width, dtype, device, precision):
    """ATen attention ops one forward+backward of a CLIP residual block dispatches to.

    Shows whether ``nn.MultiheadAttention(need_weights=False)`` takes the fused
    ``scaled_dot_product_attention`` path, and which kernel, on this device
    (e.g. ``_scaled_dot_product_flash_attention_for_cpu``). A ``softmax`` or
    ``bmm`` here would mean the unfused path.
    """
    import torch

    from benchmarks.op_count import op_names
    from enprompt.model import autocast_for

    x = torch.randn(tokens, batch, width, device=device, dtype=dtype, requires_grad=True)

    def forward_backward():
        with autocast_for(precision, device):
            y = block(x)
        y.float().sum().backward()

    names = op_names(forward_backward)
    keep = ("attention", "softmax", "bmm")
    return sorted(n for n in names if any(k in n for k in keep))


# ---------------------------------------------------------------------------- measurements
def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_training(model, params, cfg, precision, device, args, text_counter):
    """Median step time, images/s, peak memory and text-encoder passes per step."""
    import torch

    from benchmarks.op_count import count_ops
    from enprompt.dassl import build_optimizer
    from enprompt.engine.torchtools import check_finite_loss
    from trainers.enprompt import enprompt_step

    generator = torch.Generator().manual_seed(args.seed)
    size = model.image_encoder.visual.input_resolution
    batches = [
        (
            torch.randn(args.batch_size, 3, size, size, generator=generator).to(device),
            torch.randint(0, args.classes, (args.batch_size,), generator=generator).to(device),
        )
        for _ in range(4)
    ]
    optimizer = build_optimizer(params, cfg.OPTIM)
    scaler = torch.amp.GradScaler(device.type) if precision == "amp" else None
    model.prompt_learner.train()
    memory = PeakMemory(device)
    memory.reset()

    def step(images, labels):
        # The trainer's own step (EnPrompt.forward_backward without the loader and the LR step).
        return enprompt_step(model, optimizer, scaler, images, labels, precision, check_finite_loss)

    times, losses = [], []
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            text_counter.count = 0
        images, labels = batches[i % len(batches)]
        _sync(device)
        start = time.perf_counter()
        losses.append(step(images, labels)["loss"])
        _sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        _log(args, f"  train step {i + 1}/{args.warmup + args.steps}: {time.perf_counter() - start:.3f}s")
    median = statistics.median(times)
    text_passes_per_step = text_counter.count / args.steps
    peak = memory.read()
    ops = count_ops(lambda: step(*batches[0]))  # one more, untimed step
    return {
        "step_time_s": median,
        "step_times_s": times,
        "images_per_s": args.batch_size / median,
        "memory": peak,
        "text_encoder_passes_per_step": text_passes_per_step,
        "final_loss": losses[-1],
        "ops_per_step": ops,
    }


def _eval_pass(forward, images, n_images, batch_size, device):
    """Seconds for one pass over ``n_images`` (last batch partial), under no_grad."""
    import torch

    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        done = 0
        while done < n_images:
            n = min(batch_size, n_images - done)
            out = forward(images[:n])
            out.float().sum().item()  # the evaluator reads every batch back to the host
            done += n
    _sync(device)
    return time.perf_counter() - start


def measure_eval(forwards, device, args, text_counter, size):
    """Eval throughput of each ``forwards[name]``; their passes interleaved, order alternating.

    Returns ``{name: {"images_per_s", "pass_times_s", ...}}`` and the phase's peak memory.
    """
    import torch

    generator = torch.Generator().manual_seed(args.seed + 1)
    batch = min(args.eval_batch_size, args.eval_images)
    images = torch.randn(batch, 3, size, size, generator=generator).to(device)
    memory = PeakMemory(device)
    memory.reset()
    names = list(forwards)
    for name in names:  # warm-up: one batch each (EnPrompt's eval cache is filled here, as in trainer.test)
        _eval_pass(forwards[name], images, batch, args.eval_batch_size, device)
    times = {name: [] for name in names}
    passes_per_batch = {}
    n_batches = math.ceil(args.eval_images / args.eval_batch_size)
    for p in range(args.eval_passes):
        order = names if p % 2 == 0 else names[::-1]
        for name in order:
            text_counter.count = 0
            times[name].append(_eval_pass(forwards[name], images, args.eval_images, args.eval_batch_size, device))
            passes_per_batch[name] = text_counter.count / n_batches
            _log(args, f"  eval pass {p + 1}/{args.eval_passes} {name}: {times[name][-1]:.3f}s")
    results = {}
    for name in names:
        median = statistics.median(times[name])
        results[name] = {
            "images_per_s": args.eval_images / median,
            "pass_time_s": median,
            "pass_times_s": times[name],
            "text_encoder_passes_per_batch": passes_per_batch[name],
        }
    return results, memory.read()


def run_design(design, args, result):
    """Build one design and measure it, filling ``result`` (runs in the child)."""
    import torch

    from enprompt.model import autocast_for, cast_clip_weights, resolve_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = build_cfg(args)
    precision = resolve_precision(cfg.TRAINER.ENPROMPT.PREC, device)
    result["machine"] = machine_info(device, cfg.TRAINER.ENPROMPT.PREC, precision)

    clip_model = load_benchmark_clip(args)
    cast_clip_weights(clip_model, precision)
    clip_model.requires_grad_(False)
    text_counter = CallCounter(clip_model.ln_final)  # once per text-encoder pass
    classnames = synthetic_classnames(args.classes)

    start = time.perf_counter()
    model, params = build_design(design, cfg, clip_model, classnames, device, args)
    _sync(device)
    result["build_time_s"] = time.perf_counter() - start
    result["text_encoder_passes_at_build"] = text_counter.count
    result["learnable_params"] = sum(p.numel() for p in params)
    result["text_tower_device"] = str(clip_model.token_embedding.weight.device)

    vit = model.image_encoder.visual
    n_tokens = 1 + (vit.input_resolution // vit.conv1.kernel_size[0]) ** 2 + cfg.TRAINER.ENPROMPT.N_CTX_VISION
    result["attention_ops"] = attention_ops(
        vit.transformer.resblocks[-1], n_tokens, args.batch_size, model.image_encoder.width,
        model.image_encoder.dtype, device, precision,
    )

    _log(args, f"[{design}] training: C={args.classes}, batch {args.batch_size}, {precision} on {device.type}")
    result["train"] = measure_training(model, params, cfg, precision, device, args, text_counter)

    if args.eval_images > 0:
        model.prompt_learner.eval()  # as trainer.set_model_mode("eval")

        def model_forward(images):
            with autocast_for(precision, device):
                return model(images)

        forwards = {design: model_forward}
        if design == "enprompt":
            def zeroshot_forward(images):
                with autocast_for(precision, device):
                    return clip_model.encode_image(images)

            forwards = {"zeroshot": zeroshot_forward, design: model_forward}
        _log(args, f"[{design}] evaluation: {args.eval_images} images, batch {args.eval_batch_size}")
        evals, memory = measure_eval(forwards, device, args, text_counter, vit.input_resolution)
        result["eval"] = evals[design]
        result["eval"]["memory"] = memory
        if "zeroshot" in evals:
            result["zeroshot_eval"] = evals["zeroshot"]
    result["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return result


def run_design_safely(design, args):
    """:func:`run_design`, turning an out-of-memory error into a result with that status
    (and what was measured before it)."""
    result = {"design": design}
    try:
        run_design(design, args, result)
        result["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - only out-of-memory errors are caught
        if not _is_out_of_memory(err):
            raise
        result["status"] = "out_of_memory"
        result["error"] = f"{type(err).__name__}: {err}"[:300]
    return result


# ---------------------------------------------------------------------------- child processes
def _limit_address_space(args):
    """CPU child: cap the address space so that a design that does not fit fails cleanly."""
    import resource

    available = mem_available_bytes()
    if args.memory_limit_gb is not None:
        budget = int(args.memory_limit_gb * 2**30)
    elif available is not None:
        budget = int(0.85 * available)
    else:
        return None
    limit = _proc_status_bytes("VmSize") + budget  # address space already mapped + new memory allowed
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return budget


def worker_main(args):
    import torch

    # Everything the child needs is imported before the address space is capped.
    import benchmarks.op_count  # noqa: F401
    import benchmarks.reference_design  # noqa: F401
    import enprompt.dassl  # noqa: F401
    import enprompt.model  # noqa: F401
    import enprompt.tiny_clip  # noqa: F401
    import trainers.enprompt  # noqa: F401

    budget = None
    if not torch.cuda.is_available():
        budget = _limit_address_space(args)
    result = run_design_safely(args.worker, args)
    result["memory_budget_bytes"] = budget
    with open(args.worker_out, "w") as f:
        json.dump(result, f)


def run_in_child(design, argv, args, folder, index):
    out = osp.join(folder, f"{index}-{design}.json")
    # The worker flags go first: --opts takes everything after it.
    command = [sys.executable, osp.abspath(__file__), "--worker", design, "--worker-out", out, *argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    completed = subprocess.run(command, env=env)
    if completed.returncode != 0 or not osp.isfile(out):
        how = f"signal {-completed.returncode}" if completed.returncode < 0 else f"exit code {completed.returncode}"
        status = "killed" if completed.returncode < 0 else "failed"
        return {"design": design, "status": status, "error": f"child process ended with {how}"}
    with open(out) as f:
        return json.load(f)


# ---------------------------------------------------------------------------- summary
def _median_of(runs, *keys):
    values = []
    for run in runs:
        node = run
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)):
            values.append(node)
    return statistics.median(values) if values else None


def summarize(runs_by_design):
    """Per design: the medians over runs of each figure, plus the per-run values."""
    summary = {}
    for design, runs in runs_by_design.items():
        ok = [r for r in runs if r.get("status") == "ok"]
        entry = {"status": "ok" if ok else runs[-1].get("status"), "runs": len(runs), "runs_ok": len(ok)}
        if not ok:
            entry["error"] = runs[-1].get("error")
            summary[design] = entry
            continue
        entry["learnable_params"] = ok[0]["learnable_params"]
        entry["text_encoder_passes_at_build"] = ok[0]["text_encoder_passes_at_build"]
        entry["text_tower_device"] = ok[0]["text_tower_device"]
        entry["attention_ops"] = ok[0]["attention_ops"]
        entry["train"] = {
            "step_time_s": _median_of(ok, "train", "step_time_s"),
            "step_time_s_per_run": [r["train"]["step_time_s"] for r in ok],
            "images_per_s": _median_of(ok, "train", "images_per_s"),
            "peak_memory_bytes": _median_of(ok, "train", "memory", "peak_bytes"),
            "start_memory_bytes": _median_of(ok, "train", "memory", "start_bytes"),
            "memory_kind": ok[0]["train"]["memory"]["kind"],
            "text_encoder_passes_per_step": _median_of(ok, "train", "text_encoder_passes_per_step"),
            "ops_per_step": ok[0]["train"]["ops_per_step"],
        }
        if "eval" in ok[0]:
            entry["eval"] = {
                "images_per_s": _median_of(ok, "eval", "images_per_s"),
                "images_per_s_per_run": [r["eval"]["images_per_s"] for r in ok],
                "peak_memory_bytes": _median_of(ok, "eval", "memory", "peak_bytes"),
                "text_encoder_passes_per_batch": _median_of(ok, "eval", "text_encoder_passes_per_batch"),
            }
        summary[design] = entry
        if "zeroshot_eval" in ok[0]:
            summary["zeroshot"] = {
                "status": "ok",
                "runs": len(ok),
                "eval": {
                    "images_per_s": _median_of(ok, "zeroshot_eval", "images_per_s"),
                    "images_per_s_per_run": [r["zeroshot_eval"]["images_per_s"] for r in ok],
                    "text_encoder_passes_per_batch": _median_of(ok, "zeroshot_eval", "text_encoder_passes_per_batch"),
                },
            }
    return summary


def ratios(summary):
    """Reference / EnPrompt step time and peak memory; EnPrompt / zero-shot eval throughput."""
    def get(design, *keys):
        node = summary.get(design)
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    out = {}
    ref_t, enp_t = get("reference", "train", "step_time_s"), get("enprompt", "train", "step_time_s")
    if ref_t and enp_t:
        out["train_step_time_reference_over_enprompt"] = ref_t / enp_t
    ref_m, enp_m = get("reference", "train", "peak_memory_bytes"), get("enprompt", "train", "peak_memory_bytes")
    if ref_m and enp_m:
        out["train_peak_memory_reference_over_enprompt"] = ref_m / enp_m
    enp_e, zs_e = get("enprompt", "eval", "images_per_s"), get("zeroshot", "eval", "images_per_s")
    if enp_e and zs_e:
        out["eval_throughput_enprompt_over_zeroshot"] = enp_e / zs_e
    ref_e = get("reference", "eval", "images_per_s")
    if ref_e and enp_e:
        out["eval_throughput_reference_over_enprompt"] = ref_e / enp_e
    return out


def _fmt(value, spec, scale=1):
    if value is None:
        return "-"
    return format(value / scale if scale != 1 else value, spec)


def format_table(report):
    cfg, machine = report["config"], report["machine"]
    lines = [
        f"{cfg['arch']}, C = {cfg['classes']}, batch {cfg['batch_size']}, {machine.get('precision')} on "
        f"{machine.get('gpu') or machine.get('cpu_model')} ({machine.get('threads')} threads, torch "
        f"{machine.get('torch')}); {cfg['steps']} steps after {cfg['warmup']}, eval {cfg['eval_images']} "
        f"images in batches of {cfg['eval_batch_size']}, {cfg['repeats']} run(s) per design, medians",
        "",
        "| design | train step (s) | train img/s | train peak mem (MiB) | text passes/step | ops/step "
        "| eval img/s | eval peak mem (MiB) | text passes/test batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for design in ("enprompt", "reference", "zeroshot"):
        entry = report["designs"].get(design)
        if entry is None:
            continue
        if entry["status"] != "ok":
            lines.append(f"| {design} | {entry['status']} ({entry.get('error', '')}) | | | | | | | |")
            continue
        train, ev = entry.get("train", {}), entry.get("eval", {})
        label = "zero-shot encode_image" if design == "zeroshot" else design
        lines.append(
            f"| {label} | {_fmt(train.get('step_time_s'), '.3f')} | {_fmt(train.get('images_per_s'), '.2f')} "
            f"| {_fmt(train.get('peak_memory_bytes'), '.0f', 2**20)} "
            f"| {_fmt(train.get('text_encoder_passes_per_step'), 'g')} "
            f"| {_fmt((train.get('ops_per_step') or {}).get('non_view'), 'd')} "
            f"| {_fmt(ev.get('images_per_s'), '.2f')} | {_fmt(ev.get('peak_memory_bytes'), '.0f', 2**20)} "
            f"| {_fmt(ev.get('text_encoder_passes_per_batch'), 'g')} |"
        )
    lines.append("")
    for name, value in report["ratios"].items():
        lines.append(f"{name}: {value:.3f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def _config_summary(args):
    return {
        "arch": args.arch,
        "clip_weights": args.clip_weights or None,
        "classes": args.classes,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "steps": args.steps,
        "warmup": args.warmup,
        "eval_images": args.eval_images,
        "eval_batch_size": args.eval_batch_size,
        "eval_passes": args.eval_passes,
        "designs": args.design_list,
        "repeats": args.repeats,
        "isolation": args.isolation,
        "threads": args.threads or None,
        "n_ctx_text": args.n_ctx_text,
        "reference_checkpoint_text": args.reference_checkpoint_text,
        "config_file": osp.relpath(args.config_file, REPO_ROOT) if args.config_file.startswith(REPO_ROOT)
        else args.config_file,
        "opts": list(args.opts),
        "seed": args.seed,
    }


def main(argv=None):
    """Run the benchmark; returns the report dict (also written to ``--json``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return None

    runs_by_design = {d: [] for d in args.design_list}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        for repeat in range(args.repeats):
            for design in args.design_list:
                _log(args, f"== run {repeat + 1}/{args.repeats}: {design}")
                if args.isolation == "process":
                    result = run_in_child(design, argv, args, folder, f"{repeat}")
                else:
                    result = run_design_safely(design, args)
                runs_by_design[design].append(result)

    machine = next(
        (r["machine"] for runs in runs_by_design.values() for r in runs if "machine" in r), {}
    )
    summary = summarize(runs_by_design)
    report = {
        "version": JSON_VERSION,
        "command": "python benchmarks/bench_train.py " + " ".join(argv),
        "config": _config_summary(args),
        "machine": machine,
        "designs": summary,
        "ratios": ratios(summary),
        "runs": runs_by_design,
    }
    print(format_table(report), flush=True)
    if args.json:
        write_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
