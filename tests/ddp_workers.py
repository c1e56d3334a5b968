"""One EnPrompt training step, in one process or as one of the processes of a DDP run.

The test of the data-parallel step (tests/test_ddp.py) runs :func:`ddp_step`
in two processes started by ``torch.multiprocessing.spawn`` (gloo, a
``FileStore`` in the test's temporary folder) and :func:`single_step` in its
own process, and compares what they write:

* ``build(clip_path)``: the tiny EnPrompt model (OT on, fp32, seeded) and its
  optimiser, as the trainer builds them;
* ``batch(n)``: ``n`` fixed random images and labels;
* ``ddp_step(rank, world_size, store, clip_path, out)``: rank ``r`` takes
  rows ``[r*b, (r+1)*b)`` of ``batch(2b)``. First the gradient (averaged by
  DDP) with the OT features gathered *without* the other shards' gradients
  (open_clip's default), then one real step (``enprompt_step``) with the
  project's gather; rank 0 saves both gradients, the loss summary averaged
  over the processes, and the parameters after the step;
* ``single_step(clip_path)``: the same on the whole batch in one process,
  plus the CE and OT gradients apart.
"""
import torch
import torch.distributed as dist

from enprompt.clip_loader import load_clip
from enprompt.dassl import build_optimizer
from enprompt.distributed import data_parallel, mean_over_processes
from enprompt.model import build_enprompt_model
from enprompt.model.precision import cast_clip_weights
from tests.configs import make_cfg

__all__ = ["PER_PROCESS_BATCH", "build", "batch", "ddp_step", "single_step"]

PER_PROCESS_BATCH = 2
CLASSES = ["banded", "blotchy", "braided"]


def build(clip_path):
    """``(model, optimizer)``: EnPrompt on the tiny CLIP, fp32, OT on, seed 0, SGD as in the
    shipped configs (the update is linear in the gradient: Adam's first step, g / (|g| + eps),
    turns a difference of 1e-11 in a gradient of 2e-8 into one of 1e-4 in the update)."""
    torch.manual_seed(0)
    cfg = make_cfg("DATASET.NAME", "DescribableTextures", "TRAINER.ENPROMPT.PREC", "fp32",
                   "TRAINER.ENPROMPT.OT.WEIGHT", 1.0, "OPTIM.NAME", "sgd", "OPTIM.LR", 0.5,
                   "OPTIM.WARMUP_EPOCH", 0)
    clip_model = cast_clip_weights(load_clip("ViT-B/16", clip_path), "fp32")
    model = build_enprompt_model(cfg, clip_model, CLASSES)
    return model, build_optimizer(model.prompt_learner, cfg.OPTIM)


def batch(n):
    """``n`` fixed random images [n, 3, 224, 224] and labels [n]."""
    generator = torch.Generator().manual_seed(1234)
    images = torch.randn(n, 3, 224, 224, generator=generator)
    labels = torch.tensor([i % len(CLASSES) for i in range(n)])
    return images, labels


def _learnable(model):
    return {name: p.detach().clone() for name, p in model.prompt_learner.named_parameters()}


def _grads(model):
    return {name: p.grad.detach().clone() for name, p in model.prompt_learner.named_parameters()}


def _local_shard_only(tensor):
    """open_clip's default gather: the other processes' rows without their gradients."""
    shards = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(shards, tensor.detach().contiguous())
    shards[dist.get_rank()] = tensor
    return torch.cat(shards)


def ddp_step(rank, world_size, store, clip_path, out):
    """One process of the two-process step (see the module docstring)."""
    from enprompt.model import ot_loss
    from trainers.enprompt import enprompt_step

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        model, optimizer = build(clip_path)
        step_model = data_parallel(model)
        images, labels = batch(world_size * PER_PROCESS_BATCH)
        rows = slice(rank * PER_PROCESS_BATCH, (rank + 1) * PER_PROCESS_BATCH)
        image, label = images[rows], labels[rows]

        gather = ot_loss.all_gather_with_grad
        ot_loss.all_gather_with_grad = _local_shard_only
        try:
            step_model(image, label)["loss"].backward()
        finally:
            ot_loss.all_gather_with_grad = gather
        local_only = _grads(model)

        before = _learnable(model)
        summary = enprompt_step(step_model, optimizer, None, image, label, "fp32", lambda *a: None)
        result = {
            "summary": mean_over_processes(summary),
            "grad": _grads(model),
            "grad_local_shard_only": local_only,
            "before": before,
            "after": _learnable(model),
        }
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def single_step(clip_path):
    """The same step in one process on the whole batch (see the module docstring)."""
    from trainers.enprompt import enprompt_step

    model, optimizer = build(clip_path)
    images, labels = batch(2 * PER_PROCESS_BATCH)
    output = model(images, labels)
    output["loss_ce"].backward(retain_graph=True)
    grad_ce = _grads(model)
    model.zero_grad()
    output["loss_ot"].backward()
    grad_ot = _grads(model)
    model.zero_grad()
    before = _learnable(model)
    summary = enprompt_step(model, optimizer, None, images, labels, "fp32", lambda *a: None)
    return {"summary": summary, "grad": _grads(model), "grad_ce": grad_ce, "grad_ot": grad_ot,
            "before": before, "after": _learnable(model)}
