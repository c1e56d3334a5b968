"""Data parallelism over processes: the world of a run, its process group, and its collectives.

A run is one process, or the N processes of one data-parallel (DDP) run::

    torchrun --nproc_per_node N train.py ...        # RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
    srun --ntasks N python train.py ...             # N tasks of one Slurm job step

Under Slurm without torchrun the world comes from the job step: ``SLURM_PROCID``
(rank), ``SLURM_STEP_NUM_TASKS`` (or ``SLURM_NTASKS``), ``SLURM_LOCALID``, the
first host of the step's node list as ``MASTER_ADDR`` and a ``MASTER_PORT``
derived from the job id (unless the environment sets them). Only a job step
counts: the batch script of ``sbatch --ntasks N`` also carries ``SLURM_NTASKS=N``
but is one process, and stays one. With none of this (or one process), the
world is ``rank 0 of 1``: no process group is made and nothing here changes
what a run does.

Rank 0 is the *main* process: it alone decides what the run does with its
folder, and writes logs, checkpoints, tensorboard and the manifest. Every
process trains on its shard of each global batch (``N x`` the per-process
``DATALOADER.TRAIN_X.BATCH_SIZE``) and evaluates its shard of the test set.

The world is read without importing PyTorch (``train.py`` decides what to do
with the run folder first); the functions that need ``torch.distributed``
import it when called. Outside a process group they are the one-process
identity: ``all_gather_with_grad(x)`` is ``x``, ``data_parallel(m)`` is ``m``.
"""
import contextlib
import functools
import inspect
import json
import os
import re
import sys
from collections import namedtuple

from enprompt.errors import UserError

__all__ = [
    "World",
    "DistributedSetupError",
    "world_from_env",
    "first_host",
    "slurm_master_port",
    "check_engine",
    "process_group",
    "quiet_unless_main",
    "Peers",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "barrier",
    "broadcast_json",
    "shared_seed",
    "all_gather_with_grad",
    "all_gather_rows",
    "mean_over_processes",
    "all_finite",
    "data_parallel",
]


class World(namedtuple("World", ["rank", "local_rank", "size", "master_addr", "master_port", "launcher"])):
    """This process in its run: ``rank`` of ``size`` processes, ``local_rank`` on its node,
    the rendezvous address and port, and the ``launcher`` ("torchrun", "slurm" or "" for one
    process)."""

    @property
    def is_main(self):
        return self.rank == 0


SINGLE_PROCESS = World(0, 0, 1, "", "", "")


class DistributedSetupError(UserError, RuntimeError):
    """The processes of a data-parallel run cannot work together; the message says why."""


def first_host(nodelist):
    """The first host name of a Slurm node list: ``"gpu[07-09,12],cpu1"`` -> ``"gpu07"``.

    Every bracket of the first entry is replaced by its first value
    (``"rack[1-2]-n[01-04]"`` -> ``"rack1-n01"``); zero padding is kept.
    """
    depth, end = 0, len(nodelist)
    for i, char in enumerate(nodelist):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            end = i
            break
    entry = nodelist[:end].strip()
    return re.sub(r"\[([^\]]*)\]", lambda m: re.split(r"[-,]", m.group(1))[0], entry)


def slurm_master_port(job_id):
    """A port for the job's rendezvous: 10000 + job id mod 20000 (below Linux's ephemeral ports),
    so that two jobs sharing a node rarely meet on one port."""
    return 10000 + int(re.sub(r"\D", "", str(job_id)) or 0) % 20000


def world_from_env(environ=None):
    """The :class:`World` of this process, from torchrun's or Slurm's environment (see above)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" in env and "RANK" in env:  # torchrun (also inside a Slurm job)
        size = int(env["WORLD_SIZE"])
        if size > 1:
            return World(int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"])), size,
                         env.get("MASTER_ADDR", "127.0.0.1"), env.get("MASTER_PORT", "29500"),
                         "torchrun")
        return SINGLE_PROCESS
    if "SLURM_PROCID" in env and "SLURM_STEP_ID" in env:  # a task of a job step (srun)
        size = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
        if size > 1:
            nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or "127.0.0.1"
            port = env.get("MASTER_PORT") or str(slurm_master_port(env.get("SLURM_JOB_ID", 0)))
            return World(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)), size,
                         env.get("MASTER_ADDR") or first_host(nodes), port, "slurm")
    return SINGLE_PROCESS


def check_engine(engine):
    """Raise :class:`DistributedSetupError` unless ``engine`` can train on several processes.

    The built-in engine shards the data and the evaluation; the real Dassl's
    loaders and test loop would not, so the run is stopped before any work.
    """
    if engine != "builtin":
        raise DistributedSetupError(
            "Training or evaluating on several processes (torchrun, or several Slurm tasks) needs "
            "this project's built-in engine, which shards the data and the evaluation across the "
            "processes; the installed Dassl.pytorch does not. Set ENPROMPT_ENGINE=builtin (same "
            "splits, schedule, checkpoints and log lines as Dassl), or run one process."
        )


# ---------------------------------------------------------------------------- process group
def _torch_dist():
    import torch.distributed as dist

    return dist


def _cuda_device(world):
    import torch

    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise DistributedSetupError(
            f"Process {world.rank} has local rank {world.local_rank}, but this node shows "
            f"{count} GPU(s) (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}). "
            "Start at most one process per GPU (torchrun --nproc_per_node, or Slurm tasks per "
            "node), or pass USE_CUDA False to train on the CPU."
        )
    torch.cuda.set_device(world.local_rank)
    return world.local_rank


@contextlib.contextmanager
def process_group(world, use_cuda=True):
    """The process group of ``world`` while the block runs: nccl on CUDA, gloo on the CPU.

    Each process uses the GPU of its local rank. A single-process world makes
    none. The group is destroyed when the block ends, however it ends.
    """
    if world.size <= 1:
        yield
        return
    import torch

    dist = _torch_dist()
    backend = "gloo"
    if use_cuda and torch.cuda.is_available():
        _cuda_device(world)
        backend = "nccl"
    os.environ.setdefault("MASTER_ADDR", world.master_addr)
    os.environ.setdefault("MASTER_PORT", str(world.master_port))
    dist.init_process_group(backend, init_method="env://", rank=world.rank, world_size=world.size)
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def quiet_unless_main(world):
    """Silence ``stdout`` on ranks > 0 while the block runs (rank 0 prints for the run);
    ``stderr``, where errors go, is left alone."""
    if world.is_main:
        yield
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


class Peers:
    """The processes of one run, as :class:`enprompt.run.RunSession` sees them.

    ``is_main``: this is rank 0; ``size``: the number of processes;
    ``share(value)``: rank 0's ``value`` (JSON-serialisable) on every process;
    ``barrier()``: wait until every process got here.
    """

    def __init__(self, world):
        self.is_main = world.is_main
        self.size = world.size

    def share(self, value):
        return broadcast_json(value)

    def barrier(self):
        barrier()


# ---------------------------------------------------------------------------- queries
def is_distributed():
    """True inside a process group of more than one process."""
    if "torch" not in sys.modules:  # no process group without torch
        return False
    dist = _torch_dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank():
    """This process's rank (0 without a process group)."""
    return _torch_dist().get_rank() if is_distributed() else 0


def get_world_size():
    """The number of processes (1 without a process group)."""
    return _torch_dist().get_world_size() if is_distributed() else 1


def is_main_process():
    """True on rank 0, and in a single process."""
    return get_rank() == 0


def barrier():
    """Wait until every process got here (nothing in one process)."""
    if is_distributed():
        _torch_dist().barrier()


# ---------------------------------------------------------------------------- collectives
def _device():
    """The device of the group's collectives: the current GPU under nccl, else the CPU."""
    import torch

    if _torch_dist().get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_json(value, src=0):
    """Rank ``src``'s ``value`` on every process, sent as JSON text (no pickle)."""
    if not is_distributed():
        return value
    import torch

    dist = _torch_dist()
    data = json.dumps(value).encode("utf-8") if get_rank() == src else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=_device())
    dist.broadcast(size, src)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=_device())
    if get_rank() == src:
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buffer, src)
    return json.loads(bytes(buffer.cpu().tolist()).decode("utf-8"))


def shared_seed(seed):
    """``seed`` when it fixes the run (>= 0); otherwise one random seed drawn by rank 0 for all."""
    if seed >= 0:
        return int(seed)
    return int(broadcast_json(int.from_bytes(os.urandom(4), "little") if is_main_process() else None))


@functools.lru_cache(maxsize=None)
def _gather_with_grad():
    """The autograd function of :func:`all_gather_with_grad` (made on first use: torch is
    imported only then)."""
    import torch

    class GatherWithGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, tensor):
            dist = _torch_dist()
            shards = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
            dist.all_gather(shards, tensor.contiguous())
            ctx.rows = slice(dist.get_rank() * tensor.shape[0], (dist.get_rank() + 1) * tensor.shape[0])
            return torch.cat(shards, dim=0)

        @staticmethod
        def backward(ctx, grad):
            grad = grad.contiguous().clone()
            _torch_dist().all_reduce(grad)  # the sum of every process's gradient ...
            return grad[ctx.rows]  # ... for this process's rows

    return GatherWithGrad


def all_gather_with_grad(tensor):
    """Every process's ``tensor`` (same shape on each), concatenated along dim 0 in rank order.

    Differentiable: the backward pass gives each process the gradient of its
    own rows *summed over the processes*. When every process computes the same
    loss of the gathered batch, each process's rows thus get ``N`` times their
    gradient, and DDP's average over the ``N`` processes gives exactly the
    gradient of one process computing that loss on the whole batch. (The
    backward is an all-reduce of the gathered batch's gradient, which every
    backend has; the batch is small.)
    """
    if not is_distributed():
        return tensor
    return _gather_with_grad().apply(tensor)


def all_gather_rows(tensor):
    """Every process's ``tensor``, whose first dimension may differ, concatenated in rank order.

    No gradient. Used for the predictions of sharded evaluation.
    """
    if not is_distributed():
        return tensor
    import torch

    dist = _torch_dist()
    device = _device()
    local = tensor.to(device)
    count = torch.tensor([local.shape[0]], dtype=torch.int64, device=device)
    counts = [torch.zeros_like(count) for _ in range(get_world_size())]
    dist.all_gather(counts, count)
    counts = [int(c.item()) for c in counts]
    padded = local.new_zeros((max(counts), *local.shape[1:]))
    padded[: local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, counts)]).to(tensor.device)


def mean_over_processes(values):
    """``{name: mean over the processes}`` of a ``{name: number or 0-d tensor}`` dict, as floats.

    With the same batch size on every process, the mean of per-process batch
    means is the global batch mean (a loss summary of the global batch).
    """
    if values is None or not is_distributed():
        return values
    import torch

    names = list(values)
    stacked = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=_device())
    _torch_dist().all_reduce(stacked)
    stacked /= get_world_size()
    return dict(zip(names, stacked.cpu().tolist()))


def all_finite(tensor):
    """True when ``tensor`` is finite on every process (one process: on this one)."""
    import torch

    finite = bool(torch.isfinite(tensor).all())
    if not is_distributed():
        return finite
    flag = torch.tensor([0 if finite else 1], dtype=torch.int32, device=_device())
    _torch_dist().all_reduce(flag)
    return int(flag.item()) == 0


def data_parallel(module, device=None):
    """``module`` wrapped in ``DistributedDataParallel`` inside a process group; else ``module``.

    DDP averages the gradients of ``module``'s trainable parameters over the
    processes during backward, so each process applies the same update.
    Buffers are not broadcast at every forward: they are built the same on
    every process (and copied from rank 0 once, when DDP is made).
    """
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    from enprompt.engine_choice import selected_engine

    check_engine(selected_engine())

    device_ids = [device.index if device.index is not None else _device().index] if (
        device is not None and device.type == "cuda") else None
    # PyTorch >= 2.14 renames broadcast_buffers to forward_sync_buffers.
    no_buffer_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(
        DistributedDataParallel).parameters else "broadcast_buffers")
    return DistributedDataParallel(module, device_ids=device_ids, **{no_buffer_sync: False})
