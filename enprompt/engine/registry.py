"""Name -> object registries with Dassl's interface (``dassl.utils.registry``)."""
from difflib import SequenceMatcher

__all__ = ["Registry", "check_availability", "most_similar", "build_registered"]


class Registry:
    """Map names to classes or functions, filled by a decorator at import time.

    Example::

        TRAINER_REGISTRY = Registry("TRAINER")

        @TRAINER_REGISTRY.register()
        class MyTrainer(TrainerX):
            ...

    Objects are registered under their ``__name__``. Registering a name twice
    raises ``KeyError`` unless ``force=True``.
    """

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(
                f'An object named "{name}" was already registered in the '
                f'"{self._name}" registry'
            )
        self._obj_map[name] = obj

    def register(self, obj=None, force=False):
        if obj is None:
            def decorator(fn_or_class):
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return decorator
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(
                f'Object name "{name}" does not exist in the "{self._name}" registry'
            )
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map


def most_similar(probe, candidates):
    """Return the candidate string most similar to ``probe`` (None if no candidates)."""
    best, best_ratio = None, -1.0
    for candidate in candidates:
        ratio = SequenceMatcher(None, probe, candidate).ratio()
        if ratio >= best_ratio:
            best, best_ratio = candidate, ratio
    return best


def check_availability(requested, available):
    """Raise ``ValueError`` listing ``available`` and the closest name if missing."""
    if requested not in available:
        raise ValueError(
            f"The requested one is expected to belong to {list(available)}, but "
            f"got [{requested}] (do you mean [{most_similar(requested, available)}]?)"
        )


def build_registered(registry, name, cfg, what):
    """``registry[name](cfg)`` after :func:`check_availability`, printing Dassl's
    ``Loading <what>: <name>`` line when ``cfg.VERBOSE`` (``build_trainer``,
    ``build_dataset``)."""
    check_availability(name, registry.registered_names())
    if cfg.VERBOSE:
        print(f"Loading {what}: {name}")
    return registry.get(name)(cfg)
