"""Samplers of the data loaders (``dassl.data.samplers``), and their data-parallel versions."""
from torch.utils.data import DistributedSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["AVAI_SAMPLERS", "build_sampler", "ShardSampler", "build_distributed_sampler"]

AVAI_SAMPLERS = ["RandomSampler", "SequentialSampler"]


def _check_type(sampler_type):
    if sampler_type not in AVAI_SAMPLERS:
        raise ValueError(
            f"Unknown sampler {sampler_type!r}: the built-in engine provides {AVAI_SAMPLERS} "
            "(install the real Dassl for its domain/class samplers)."
        )


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    """``RandomSampler`` (no replacement, global torch RNG) or ``SequentialSampler``.

    Dassl's domain and class samplers are used by domain-adaptation trainers
    only, not by CoOp-family trainers; asking for them is an error that says so.
    """
    _check_type(sampler_type)
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    return SequentialSampler(data_source)


class ShardSampler(Sampler):
    """The indices ``rank, rank + N, rank + 2N, ...`` of ``n`` items, in order.

    No padding: the shards of the ``N`` processes hold every index exactly
    once (their lengths differ by at most one), so a sharded evaluation counts
    each image once. (``DistributedSampler`` pads with repeated indices.)
    """

    def __init__(self, n, num_replicas, rank):
        self.n, self.num_replicas, self.rank = n, num_replicas, rank

    def __iter__(self):
        return iter(range(self.rank, self.n, self.num_replicas))

    def __len__(self):
        return len(range(self.rank, self.n, self.num_replicas))


def build_distributed_sampler(sampler_type, data_source, batch_size, is_train, seed,
                              num_replicas, rank):
    """The sampler of process ``rank`` of ``num_replicas`` in a data-parallel run.

    Training: ``DistributedSampler`` over one permutation per epoch (seeded
    by ``seed`` and the epoch: call ``set_epoch``), the same on every process,
    dealt round-robin. With ``batch_size`` per process and the incomplete end
    dropped, step ``k`` of the ``N`` processes together takes positions
    ``[k*N*b, (k+1)*N*b)`` of the permutation: Dassl's ``drop_last`` rule
    applied to the global batch ``N*b``. ``SequentialSampler`` keeps the
    dataset's order. Evaluation: :class:`ShardSampler`.

    Raises:
        ValueError: a training set smaller than one global batch.
    """
    _check_type(sampler_type)
    if not is_train:
        return ShardSampler(len(data_source), num_replicas, rank)
    if len(data_source) < num_replicas * batch_size:
        raise ValueError(
            f"The training set has {len(data_source)} images, fewer than one global batch of "
            f"{num_replicas} processes x DATALOADER.TRAIN_X.BATCH_SIZE {batch_size} = "
            f"{num_replicas * batch_size}, so the processes cannot get equal batches. Use fewer "
            "processes or a smaller per-process batch (or one process, which trains on the "
            "incomplete batch)."
        )
    return DistributedSampler(data_source, num_replicas=num_replicas, rank=rank,
                              shuffle=sampler_type == "RandomSampler", seed=seed, drop_last=True)
