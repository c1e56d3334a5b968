"""``torch.compile`` of the EnPrompt model and step (``TRAINER.ENPROMPT.COMPILE``).

What is asserted: a compiled model gives the eager model's losses, gradients,
updated parameters and test logits, to float32 rounding; the graphs are
really captured (the whole training forward as one graph for ``step``, the
image encoder alone for ``encoder``); the trainer runs its steps and its
test through them and prints the compile time in one line; a compiler that
fails makes the run eager, saying so once, in one line, with eager's numbers.

Backends. Inductor's code generation takes minutes on a 2-core CPU (measured
here, cold cache, one thread: 139 s for the first step of the tiny model with
100 Sinkhorn iterations, 71 s with 2 iterations), so the tests of the default
run use ``aot_eager``: TorchDynamo captures the same graphs and AOTAutograd
derives the same backward graphs as for inductor, which are then run op by
op. What that leaves out, inductor's generated kernels, is tested by
``test_inductor_step_matches_eager_on_the_cpu`` (marked ``slow``, so not in
the default run: ``python -m pytest -m slow tests/test_compile.py``; the
device check runs it) and, on CUDA with CUDA graphs, by
``test_compiled_step_matches_eager_on_cuda`` (marked ``cuda``).

Tolerance: relative 1e-5 for every loss, gradient and parameter (each tensor
against its largest entry) and for the test logits. The compiled graphs
compute in float32 like eager; only the order of float sums in fused
kernels differs (measured: aot_eager bitwise equal, inductor on the CPU
1.6e-6 for the gradients).
"""
import copy
import re

import pytest
import torch

from enprompt.clip_loader import load_clip
from enprompt.config import add_enprompt_config
from enprompt.dassl import build_optimizer, get_cfg_default
from enprompt.engine.torchtools import check_finite_loss
from enprompt.model import CompiledEnPrompt, build_enprompt_model, cast_clip_weights
from tests.paths import BASE2NEW_CFG
from tests.train_py import dtd_trainer
from trainers.enprompt import enprompt_step

CLASSNAMES = ["canvas", "marble", "lace", "rust", "moss"]
RTOL = 1e-5
STEPS = 3  # CUDA graphs: warm-up, recording, then replays


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch: no graph, guard or recompile count left by another."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _cfg(*opts):
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.merge_from_file(BASE2NEW_CFG)
    cfg.DATASET.NAME = "DescribableTextures"  # its template "{} texture."
    # Fewer Sinkhorn iterations than the configs' 100: the same graph, shorter
    # to capture. OPTIM.LR raised so that three steps move the parameters visibly.
    cfg.merge_from_list(["TRAINER.ENPROMPT.OT.ITERS", 10, "OPTIM.LR", 0.5, *opts])
    return cfg


def _model(clip_path, device, precision="fp32", *opts):
    cfg = _cfg(*opts)
    clip_model = cast_clip_weights(load_clip("ViT-B/16", clip_path), precision)
    torch.manual_seed(0)
    return cfg, build_enprompt_model(cfg, clip_model, CLASSNAMES, device=device)


def _batches(device, n=STEPS):
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(4, 3, 224, 224, generator=generator).to(device),
         torch.randint(0, len(CLASSNAMES), (4,), generator=generator).to(device))
        for _ in range(n)
    ]


def _train(runner, model, cfg, batches, precision="fp32"):
    """Steps through ``runner.step``; per step the loss terms, gradients and parameters after it."""
    params = list(model.prompt_learner.parameters())
    optimizer = build_optimizer(params, cfg.OPTIM)
    model.prompt_learner.train()
    record = []
    for images, labels in batches:
        summary = runner.step(enprompt_step, optimizer, None, images, labels, precision, check_finite_loss)
        record.append({
            "summary": summary,
            "grads": [p.grad.detach().float().cpu().clone() for p in params],
            "params": [p.detach().float().cpu().clone() for p in params],
        })
    return record


def _test_logits(runner, model, images):
    model.prompt_learner.eval()
    with torch.no_grad():
        return [runner(images).float().cpu() for _ in range(STEPS)]  # the last ones replay


def _close(a, b, rtol=RTOL):
    return (a - b).abs().max().item() <= rtol * max(b.abs().max().item(), 1e-12)


def _assert_same_training(compiled, eager, rtol=RTOL):
    for step, (c, e) in enumerate(zip(compiled, eager)):
        for name in ("loss", "loss_ce", "loss_ot"):
            assert c["summary"][name] == pytest.approx(e["summary"][name], rel=rtol), (step, name)
        if rtol == 0:  # with rounding differences a near tie between two classes may flip
            assert c["summary"]["acc"] == e["summary"]["acc"], step
        for kind in ("grads", "params"):
            for i, (tc, te) in enumerate(zip(c[kind], e[kind])):
                assert _close(tc, te, rtol), (step, kind, i, (tc - te).abs().max().item())


class GraphRecorder:
    """A ``torch.compile`` backend that keeps every captured graph, then runs it as ``aot_eager``."""

    def __init__(self, inner="aot_eager"):
        self.graphs = []
        self.inner = torch._dynamo.lookup_backend(inner)
        self.__name__ = f"recorded {inner}"

    def __call__(self, graph_module, example_inputs):
        self.graphs.append(graph_module)
        return self.inner(graph_module, example_inputs)

    def calls(self, graph_index, fn):
        return sum(node.op == "call_function" and node.target is fn for node in self.graphs[graph_index].graph.nodes)


def _compare(clip_path, target, backend, device="cpu", precision="fp32", opts=()):
    cfg, eager_model = _model(clip_path, device, precision, *opts)
    compiled_model = copy.deepcopy(eager_model)
    batches = _batches(device)
    logs = []
    runner = CompiledEnPrompt(compiled_model, target, device=device, backend=backend, log=logs.append)
    eager = _train(CompiledEnPrompt(eager_model, "none"), eager_model, cfg, batches, precision)
    compiled = _train(runner, compiled_model, cfg, batches, precision)
    images = batches[0][0]
    eager_logits = _test_logits(CompiledEnPrompt(eager_model, "none"), eager_model, images)
    compiled_logits = _test_logits(runner, compiled_model, images)
    return runner, logs, (compiled, eager), (compiled_logits, eager_logits)


@pytest.mark.usefixtures("torch_single_thread")
def test_compiled_encoder_matches_eager(tiny_clip_path):
    recorder = GraphRecorder()
    runner, logs, (compiled, eager), (compiled_logits, eager_logits) = _compare(tiny_clip_path, "encoder", recorder)
    assert runner.fallback is None and runner.target == "encoder"
    _assert_same_training(compiled, eager)
    for c, e in zip(compiled_logits, eager_logits):
        assert _close(c, e), (c - e).abs().max().item()
    # really compiled: the encoder alone, once for training and once for the test (no loss in either)
    assert len(recorder.graphs) == 2
    assert recorder.calls(0, torch.nn.functional.cross_entropy) == 0
    assert recorder.calls(1, torch.nn.functional.cross_entropy) == 0
    assert set(runner.compile_times) == {"training step", "test batch"}
    assert sum("took" in line and "compilation included" in line for line in logs) == 2


def _trainer(root, clip_path, output_dir, *opts):
    """train.py's sequence, in-process: parse, merge, seed, build; then train, recording each step."""
    trainer = dtd_trainer(
        root, clip_path, output_dir, "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", 1,
        "TRAINER.ENPROMPT.PREC", "fp32", "TRAINER.ENPROMPT.OT.ITERS", 10, *opts,
    )
    steps, tests = [], []
    real_forward_backward, real_test = trainer.forward_backward, trainer.test
    trainer.forward_backward = lambda batch: steps.append(real_forward_backward(batch)) or steps[-1]
    trainer.test = lambda split=None: tests.append(real_test(split=split)) or tests[-1]
    trainer.train()
    return trainer, steps, tests


@pytest.mark.usefixtures("torch_single_thread")
def test_trainer_with_compile_step_trains_and_tests_as_eager(tiny_clip_path, tmp_path, monkeypatch, capsys):
    """TRAINER.ENPROMPT.COMPILE step through the trainer: the same losses, weights and test accuracy."""
    import enprompt.model.compile as compile_module
    from tests.fake_data import make_dtd

    root = str(tmp_path / "data")
    make_dtd(root, n_classes=6, n_per_class=10, class_dependent=True)
    eager, eager_steps, eager_tests = _trainer(root, tiny_clip_path, str(tmp_path / "eager"))
    assert eager.compiled_model.target == "none"
    recorder = GraphRecorder()
    monkeypatch.setattr(compile_module, "DEFAULT_BACKEND", recorder)
    capsys.readouterr()
    compiled, compiled_steps, compiled_tests = _trainer(
        root, tiny_clip_path, str(tmp_path / "compiled"), "TRAINER.ENPROMPT.COMPILE", "step")
    out = capsys.readouterr().out

    assert compiled.compiled_model.target == "step" and compiled.compiled_model.fallback is None
    assert len(compiled_steps) == len(eager_steps) == 3
    for c, e in zip(compiled_steps, eager_steps):
        assert c == pytest.approx(e, rel=RTOL)
    eager_state = eager.model.prompt_learner.state_dict()
    for key, value in compiled.model.prompt_learner.state_dict().items():
        assert _close(value, eager_state[key]), key
    assert compiled_tests == eager_tests and len(compiled_tests) == 1
    # one graph for the training forward (the losses in it), one for the test batches
    assert len(recorder.graphs) == 2 and recorder.calls(0, torch.nn.functional.cross_entropy) == 1
    # compile time apart from step time: one line for the training step, one for the test
    assert len(re.findall(r"TRAINER.ENPROMPT.COMPILE step: the first training step took [\d.]+ s, "
                          r"compilation included", out)) == 1
    assert len(re.findall(r"the first test batch took [\d.]+ s, compilation included", out)) == 1


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("code generation failed\nsecond line of the report")


@pytest.mark.usefixtures("torch_single_thread")
def test_failing_compiler_falls_back_to_eager_once_in_one_line(tiny_clip_path):
    cfg, eager_model = _model(tiny_clip_path, "cpu")
    compiled_model = copy.deepcopy(eager_model)
    batches = _batches("cpu")
    logs = []
    runner = CompiledEnPrompt(compiled_model, "step", backend=_failing_backend, log=logs.append)
    eager = _train(CompiledEnPrompt(eager_model, "none"), eager_model, cfg, batches)
    compiled = _train(runner, compiled_model, cfg, batches)
    _assert_same_training(compiled, eager, rtol=0)  # the failed step ran again eagerly, and every later one
    fallbacks = [line for line in logs if "running eagerly" in line]
    assert len(fallbacks) == 1 and "\n" not in fallbacks[0]
    assert "RuntimeError: code generation failed" in fallbacks[0] and "second line" not in fallbacks[0]
    assert runner.fallback and runner.target == "none" and not runner.compiling
    assert "forward" not in vars(compiled_model.image_encoder)  # the encoder's own forward again
    assert runner.summary()["requested"] == "step" and runner.summary()["compile_times_s"] == {}


def test_an_error_of_the_model_is_raised_not_hidden_by_a_fallback(tiny_clip_path):
    _, model = _model(tiny_clip_path, "cpu")
    logs = []
    runner = CompiledEnPrompt(model, "encoder", backend="eager", log=logs.append)  # TorchDynamo alone
    with pytest.raises(IndexError):  # label 7 of 5 classes: eager raises it too
        runner(torch.zeros(2, 3, 224, 224), torch.tensor([0, 7]))
    assert not any("running eagerly," in line and "failed" in line for line in logs)


def test_step_with_the_pot_solver_compiles_the_encoder_only(tiny_clip_path):
    _, model = _model(tiny_clip_path, "cpu", "fp32", "TRAINER.ENPROMPT.OT.SOLVER", "pot")
    logs = []
    runner = CompiledEnPrompt(model, "step", backend="aot_eager", log=logs.append)
    assert runner.target == "encoder" and runner.requested == "step"
    assert sum("OT.SOLVER pot" in line for line in logs) == 1
    assert "forward" in vars(model.image_encoder)


def test_none_is_the_eager_model_itself(tiny_clip_path):
    _, model = _model(tiny_clip_path, "cpu")
    logs = []
    runner = CompiledEnPrompt(model, "none", log=logs.append)
    seen = []
    runner.step(lambda m, *args: seen.append((m, args)), "optimizer")
    assert seen == [(model, ("optimizer",))] and logs == [] and runner.summary()["backend"] is None
    with pytest.raises(ValueError, match=r"TRAINER.ENPROMPT.COMPILE = 'model' is invalid: allowed values are "
                                         r"\['none', 'encoder', 'step'\]"):
        CompiledEnPrompt(model, "model")


@pytest.mark.slow
@pytest.mark.usefixtures("torch_single_thread")
def test_inductor_step_matches_eager_on_the_cpu(tiny_clip_path):
    """Inductor's generated C++ kernels; 2 Sinkhorn iterations, the least that is still a loop."""
    runner, _, (compiled, eager), (compiled_logits, eager_logits) = _compare(
        tiny_clip_path, "step", "inductor", opts=("TRAINER.ENPROMPT.OT.ITERS", 2))
    assert runner.fallback is None and runner.mode is None
    _assert_same_training(compiled, eager)
    for c, e in zip(compiled_logits, eager_logits):
        assert _close(c, e)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_step_matches_eager_on_cuda(tiny_clip_path):
    """Inductor's Triton kernels replayed as CUDA graphs (mode reduce-overhead), fp32 without TF32."""
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        runner, _, (compiled, eager), (compiled_logits, eager_logits) = _compare(
            tiny_clip_path, "step", "inductor", device="cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    assert runner.fallback is None and runner.mode == "reduce-overhead"
    _assert_same_training(compiled, eager, rtol=1e-4)
    for c, e in zip(compiled_logits, eager_logits):
        assert _close(c, e, rtol=1e-4)
