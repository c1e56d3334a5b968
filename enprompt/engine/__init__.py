"""The built-in engine: the part of Dassl's API that CoOp-family code uses.

Same names and same behaviour for the same seed as Dassl.pytorch 0.6.3
(splits, few-shot samples, learning-rate schedule, checkpoint files, log
lines), written for current PyTorch. Import these names through
:mod:`enprompt.dassl`, which switches to the real Dassl when it is installed.

The names (listed in :mod:`.exports`) are imported on first use, so that
``enprompt.engine.checkpoint`` or ``enprompt.engine.lr_scheduler`` can be used
with the real Dassl without loading the built-in trainer and data modules.
"""
from enprompt.lazy import lazy_exports

from .exports import ALWAYS_BUILTIN, DASSL_API

_EXPORTS = {**{name: module for name, (_, module) in DASSL_API.items()}, **ALWAYS_BUILTIN}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
