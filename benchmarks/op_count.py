"""The tensor operations a piece of code dispatches: ATen calls, forward and backward.

On a GPU a training step as small as batch 4 is bound by kernel launches
rather than by arithmetic, so these counts are the device-independent part
of its cost. Used by ``bench_train.py`` and by the tests.

* ``dispatched_ops(fn)``: the ATen operations of ``fn()``, in call order
  (``torch._ops.OpOverload``);
* ``count_ops(fn)``: ``{"total", "non_view"}``; view operations launch no
  kernel;
* ``op_names(fn)``: the set of their names (e.g.
  ``_scaled_dot_product_flash_attention_for_cpu``).
"""
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["dispatched_ops", "count_ops", "op_names"]


class _RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func)
        return func(*args, **(kwargs or {}))


def dispatched_ops(fn):
    """Every ATen operation ``fn()`` dispatches, in order."""
    with _RecordOps() as recorder:
        fn()
    return recorder.ops


def count_ops(fn):
    """``{"total": ..., "non_view": ...}`` of the operations ``fn()`` dispatches."""
    ops = dispatched_ops(fn)
    views = sum(bool(op.is_view) for op in ops)
    return {"total": len(ops), "non_view": len(ops) - views}


def op_names(fn):
    """The names of the operations ``fn()`` dispatches."""
    return {op.overloadpacket.__name__ for op in dispatched_ops(fn)}
