"""Reading checkpoints that Dassl itself wrote, without running their code.

Dassl's warm-up schedulers (``ConstantWarmupScheduler``,
``LinearWarmupScheduler``) store their successor scheduler *object*, and the
optimiser it references, in their state dict. ``torch.load(weights_only=True)``
refuses such a file. These few torch/Dassl optimiser and scheduler classes are
read here as :class:`LegacyObject`: an inert record of their attributes, no
code of the original class runs. Any other Python object makes
:func:`~enprompt.engine.checkpoint.load_checkpoint` refuse the file.
"""
import collections

import torch

__all__ = ["LegacyObject", "legacy_safe_globals"]

# Module prefixes of the classes read as LegacyObject.
_LEGACY_OBJECT_PREFIXES = ("torch.optim.", "dassl.optim.")

# Containers that such a checkpoint also pickles by name; loaded as themselves.
_HARMLESS_GLOBALS = {
    "collections.defaultdict": collections.defaultdict,
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.dict": dict,
    "builtins.list": list,
    "builtins.set": set,
    "builtins.tuple": tuple,
}


class LegacyObject:
    """Inert stand-in for an object pickled inside a Dassl-written checkpoint.

    Only its recorded attributes are kept (``state``); no code of the original
    class runs. ``lr_scheduler`` reads a warm-up scheduler's successor from it.
    """

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"LegacyObject({sorted(self.state) if isinstance(self.state, dict) else '?'})"


def legacy_safe_globals(fpath):
    """Sort the Python globals that ``fpath`` pickles by name.

    Returns:
        (allowed, refused): ``allowed`` is the list to pass to
        ``torch.serialization.safe_globals`` (harmless containers as
        themselves, the optimiser and scheduler classes mapped to
        :class:`LegacyObject`); ``refused`` names every other global, each of
        which would run code when unpickled.
    """
    allowed, refused = [], []
    for name in torch.serialization.get_unsafe_globals_in_checkpoint(fpath):
        if name in _HARMLESS_GLOBALS:
            allowed.append(_HARMLESS_GLOBALS[name])
        elif name.startswith(_LEGACY_OBJECT_PREFIXES):
            allowed.append((LegacyObject, name))
        else:
            refused.append(name)
    return allowed, refused
