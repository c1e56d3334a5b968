"""``torch.compile`` of the EnPrompt model (``TRAINER.ENPROMPT.COMPILE``).

On a GPU, a batch-4 training step is bound by kernel launches, not by
arithmetic: it dispatches about 1,650 tensor operations (docs/PERFORMANCE.md),
each one launch. Compiling fuses them into fewer kernels, and CUDA graphs
replay the whole sequence with one launch. The computation is the same:
results match the eager model to float rounding (tests/test_compile.py).

Targets (:data:`enprompt.choices.COMPILE_TARGETS`):

* ``none``: eager, the default.
* ``encoder``: the prompted image encoder (step 4,
  :class:`~enprompt.model.prompted_vision.PromptedVisionEncoder`) is
  compiled, forward and backward, for training and for tests; the text side,
  the logits and the losses stay eager.
* ``step``: the whole training forward (the text side ``EnLa(T)``, ``s`` and
  the fused prompts, the image encoder, the logits, ``L_CE`` and ``L_OT``
  with its 100 Sinkhorn iterations) is captured as one graph
  (``fullgraph=True``), and its backward as another. Only the optimizer
  update (a few foreach kernels) and the host-side NaN check stay eager.
  Tests run the compiled image encoder: their text side is a cache lookup
  whose host-side comparisons belong outside a graph.

Modes: on CUDA ``mode="reduce-overhead"``, inductor's kernels replayed as
CUDA graphs, with :func:`torch.compiler.cudagraph_mark_step_begin` before
every call, so that each step's outputs are released by the next; elsewhere
inductor's default mode (C++ kernels on the CPU, where compiling rarely pays:
measure before turning it on).

Fallbacks. Each is printed once, in one line, and the run goes on:

* before compiling: no TorchDynamo for this Python, no Triton on CUDA or no
  C++ compiler on the CPU for inductor -> eager;
* ``step`` with ``OT.SOLVER pot`` (POT's loop checks convergence on the host,
  so it cannot be one graph) -> ``encoder``;
* a failure of the first compiled call or step -> eager. The failed call or
  step runs again eagerly; if that fails too, the error is the model's, not
  the compiler's, and it is raised.

Compile time is reported apart from step time: the first training step and
the first test batch compile, and their wall times are printed, one line
each, and kept in :meth:`CompiledEnPrompt.summary`.
"""
import importlib.util
import shutil
import time

import torch

from enprompt.choices import COMPILE_TARGETS, check_choice

__all__ = ["COMPILE_TARGETS", "DEFAULT_BACKEND", "CompiledEnPrompt", "compile_enprompt", "compile_mode"]

KEY = "TRAINER.ENPROMPT.COMPILE"
DEFAULT_BACKEND = "inductor"
TRAINING_STEP = "training step"
TEST_BATCH = "test batch"


def compile_mode(device, backend=DEFAULT_BACKEND):
    """``torch.compile`` mode: ``"reduce-overhead"`` (CUDA graphs) for inductor on CUDA, else None.

    Modes are inductor's; other backends take none.
    """
    return "reduce-overhead" if backend == "inductor" and torch.device(device).type == "cuda" else None


def _first_line(err, limit=200):
    """``"Type: first line of the message"``; a backend's own error is named inside dynamo's wrapper."""
    inner = getattr(err, "inner_exception", None)  # BackendCompilerFailed wraps the backend's error
    if isinstance(inner, BaseException):
        return f"{type(err).__name__}: {_first_line(inner, limit)}"
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _cannot_compile(device, backend):
    """Why ``torch.compile`` with ``backend`` cannot run on ``device``, or None."""
    try:
        supported = torch._dynamo.is_dynamo_supported()
    except Exception:  # noqa: BLE001 - any failure here means no TorchDynamo
        supported = False
    if not supported:
        return f"torch.compile is not supported with this Python and torch {torch.__version__}"
    if backend == "inductor":
        if device.type == "cuda" and importlib.util.find_spec("triton") is None:
            return "inductor needs Triton on CUDA (pip install triton)"
        if device.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
            return "inductor needs a C++ compiler on the CPU (g++ or clang++)"
    return None


def _dynamo_counters():
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return {}
    return {"graphs": counters["stats"]["unique_graphs"], "cudagraph_skips": counters["inductor"]["cudagraph_skips"]}


class CompiledEnPrompt:
    """The model as the trainer runs it: eager, or through ``torch.compile``.

    Called like the model: ``compiled(images)`` gives the logits,
    ``compiled(images, labels)`` the dict of logits and losses.
    ``compiled.step(step_fn, *args)`` runs one training step
    ``step_fn(model, *args)``, where ``model`` is this object, so that the
    step's forward is the compiled one.

    Args:
        model (EnPromptCLIP): built and on its device. With a compiled target,
            the ``forward`` of its image encoder is replaced by the compiled
            one (nothing else of the model changes; a fallback undoes it).
        target (str): ``none``, ``encoder`` or ``step`` (see the module docstring).
        device (torch.device, optional): where the model runs (default: where
            its buffers are); decides the mode.
        backend (str or callable, optional): the ``torch.compile`` backend
            (default :data:`DEFAULT_BACKEND`, inductor). ``aot_eager``
            captures the same graphs (TorchDynamo and AOTAutograd, forward
            and backward) and runs them without generating code, in seconds
            rather than minutes.
        log (callable): where the one-line messages go.
    """

    def __init__(self, model, target="none", device=None, backend=None, log=print):
        check_choice(KEY, target)
        backend = DEFAULT_BACKEND if backend is None else backend
        self.model = model
        self.requested = target
        self.target = target
        self.device = torch.device(device) if device is not None else model.logit_scale.device
        self.backend = backend
        self.mode = compile_mode(self.device, backend)
        self.fallback = None
        self.compile_times = {}  # {TRAINING_STEP or TEST_BATCH: wall seconds of the first call}
        self._log = log
        self._train_forward = None
        if target == "none":
            return
        reason = _cannot_compile(self.device, backend)
        if reason is not None:
            self._fall_back(reason)
            return
        ot_loss = getattr(model, "ot_loss", None)
        if target == "step" and ot_loss is not None and ot_loss.solver == "pot":
            self.target = "encoder"
            self._log(
                f"{KEY} step: OT.SOLVER pot checks convergence on the host, so the step is not one "
                "graph; compiling the image encoder only"
            )
        options = {"backend": backend, "mode": self.mode}
        encoder = model.image_encoder
        encoder.forward = torch.compile(encoder.forward, **options)
        if self.target == "step":
            self._train_forward = torch.compile(model, fullgraph=True, **options)
        self._log(
            f"{KEY} {self.target}: torch.compile with backend {getattr(backend, '__name__', backend)}, "
            f"mode {self.mode or 'default'}; "
            "the first training step and the first test batch compile"
        )

    @property
    def compiling(self):
        """True while a compiled target is in use (False for ``none`` and after a fallback)."""
        return self.target != "none"

    # ------------------------------------------------------------------ calls
    def __call__(self, images, labels=None):
        if not self.compiling:
            return self.model(images, labels)
        training = labels is not None and torch.is_grad_enabled()
        forward = self._train_forward if training and self._train_forward is not None else self.model
        timed = not training and TEST_BATCH not in self.compile_times
        start = time.perf_counter()
        try:
            self._mark_step_begin()
            output = forward(images, labels)
        except Exception as err:  # noqa: BLE001 - retried eagerly, raised if eager fails too
            what = TRAINING_STEP if training else TEST_BATCH
            return self._retry_eagerly(err, what, lambda: self.model(images, labels))
        if timed and self.compiling:
            self._record(TEST_BATCH, start)
        return output

    def step(self, step_fn, *args):
        """``step_fn(self, *args)``: one training step whose forward is the compiled one.

        Without compilation it is ``step_fn(model, *args)``. The first
        compiled step's wall time (compilation included) is printed and kept.
        A failure in a compiled step (forward, backward or CUDA graph
        recording) makes the model eager and runs the step again; ``step_fn``
        must therefore update nothing before its last action, the optimizer
        step (``trainers.enprompt.enprompt_step`` zeroes the gradients first
        and updates last).
        """
        if not self.compiling:
            return step_fn(self.model, *args)
        timed = TRAINING_STEP not in self.compile_times
        start = time.perf_counter()
        try:
            result = step_fn(self, *args)
        except Exception as err:  # noqa: BLE001 - retried eagerly, raised if eager fails too
            return self._retry_eagerly(err, TRAINING_STEP, lambda: step_fn(self.model, *args))
        if timed and self.compiling:
            self._record(TRAINING_STEP, start)
        return result

    def summary(self):
        """What was compiled and how long it took, as plain values (for logs and reports).

        ``graphs`` and ``cudagraph_skips`` are TorchDynamo's and inductor's
        counters for the whole process (None where this torch has none):
        graphs captured so far, and graphs that run without CUDA graphs (the
        reason is in inductor's warning in the log).
        """
        compiled = self.requested != "none"
        counters = _dynamo_counters() if compiled else {}
        return {
            "requested": self.requested,
            "target": self.target,
            "backend": getattr(self.backend, "__name__", self.backend) if compiled else None,
            "mode": self.mode if compiled else None,
            "fallback": self.fallback,
            "compile_times_s": dict(self.compile_times),
            "graphs": counters.get("graphs"),
            "cudagraph_skips": counters.get("cudagraph_skips") if self.mode == "reduce-overhead" else None,
        }

    # ------------------------------------------------------------------ internals
    def _mark_step_begin(self):
        # CUDA graphs reuse their output memory: a new step begins here, so the
        # previous step's outputs (read by then) may be overwritten.
        mark = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
        if self.mode == "reduce-overhead" and mark is not None:
            mark()

    def _record(self, what, start):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        self.compile_times[what] = seconds
        self._log(f"{KEY} {self.target}: the first {what} took {seconds:.1f} s, compilation included")

    def _retry_eagerly(self, err, what, run_eagerly):
        if not self.compiling:  # already eager (a nested call fell back): the model's own error
            raise err
        self._restore_eager()
        result = run_eagerly()  # an error here is the model's own: raised as it is
        self._fall_back(f"the first compiled {what} failed ({_first_line(err)})", restore=False)
        return result

    def _restore_eager(self):
        self.model.image_encoder.__dict__.pop("forward", None)  # the class's own forward again
        self._train_forward = None
        self.target = "none"

    def _fall_back(self, reason, restore=True):
        if restore:
            self._restore_eager()
        self.fallback = reason
        self._log(f"{KEY} {self.requested}: running eagerly, {reason}")


def compile_enprompt(model, target, device=None, backend=None, log=print):
    """:class:`CompiledEnPrompt` of ``model`` for ``TRAINER.ENPROMPT.COMPILE`` = ``target``."""
    return CompiledEnPrompt(model, target, device=device, backend=backend, log=log)
