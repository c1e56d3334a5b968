"""Comparing weights and checkpoints in tests, bit for bit.

* ``state_copy(module)``: a detached copy of ``module.state_dict()``, to
  compare with after training or loading.
* ``assert_same(expected, got, where="state")``: recursive equality of
  nested dicts, lists and tuples, with tensors equal bit for bit and of the
  same dtype (``torch.equal``); dicts must have the same keys. The failure
  names the path to the first difference, e.g. ``state['enla.up.weight']``.
* ``assert_same_weights(module, reference)``: ``assert_same`` of the two
  modules' state dicts.
"""
import torch

__all__ = ["state_copy", "assert_same", "assert_same_weights"]


def state_copy(module):
    """``{name: tensor}`` of ``module.state_dict()``, detached and cloned."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(expected, got, where="state"):
    """``expected`` and ``got`` are equal, tensors bit for bit (see the module docstring)."""
    if torch.is_tensor(expected):
        assert torch.is_tensor(got), where
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype} vs {expected.dtype}"
        assert torch.equal(expected, got), where
    elif isinstance(expected, dict):
        assert set(expected) == set(got), where
        for key in expected:
            assert_same(expected[key], got[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got), where
        for i, (a, b) in enumerate(zip(expected, got)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert expected == got, where


def assert_same_weights(module, reference):
    """``module`` holds exactly ``reference``'s state: the same names, dtypes and values."""
    assert_same(reference.state_dict(), module.state_dict(), "state_dict")
