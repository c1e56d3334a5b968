"""Samplers of the data loaders (``dassl.data.samplers``)."""
from torch.utils.data import RandomSampler, SequentialSampler

__all__ = ["AVAI_SAMPLERS", "build_sampler"]

AVAI_SAMPLERS = ["RandomSampler", "SequentialSampler"]


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    """``RandomSampler`` (no replacement, global torch RNG) or ``SequentialSampler``.

    Dassl's domain and class samplers are used by domain-adaptation trainers
    only, not by CoOp-family trainers; asking for them is an error that says so.
    """
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    raise ValueError(
        f"Unknown sampler {sampler_type!r}: the built-in engine provides {AVAI_SAMPLERS} "
        "(install the real Dassl for its domain/class samplers)."
    )
