"""Mean and spread over seeds, as the CoOp-family parsers report them."""
from collections import namedtuple

import numpy as np

__all__ = ["Stat", "harmonic_mean", "spread_name"]


class Stat(namedtuple("Stat", ["mean", "spread", "n"])):
    """Mean and spread of the values of ``n`` seeds.

    The spread is ``numpy.std`` (population, ddof=0) as in CoOp's
    ``parse_test_res.py``, or with ``ci95`` the half-width of the 95%
    confidence interval of the mean, ``1.96 * std / sqrt(n)`` (normal
    approximation, as CoOp's ``--ci95``).
    """

    @classmethod
    def of(cls, values, ci95=False):
        """The Stat of ``values`` (floats), or None when there are none."""
        if not values:
            return None
        std = float(np.std(values))
        spread = 1.96 * std / np.sqrt(len(values)) if ci95 else std
        return cls(float(np.mean(values)), float(spread), len(values))


def spread_name(ci95=False):
    """``ci95`` or ``std``: what :class:`Stat`'s spread is."""
    return "ci95" if ci95 else "std"


def harmonic_mean(base, new):
    """HM = 2·B·N / (B + N) of two accuracies (0 if both are 0)."""
    return 2.0 * base * new / (base + new) if base + new > 0 else 0.0
