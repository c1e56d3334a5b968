"""Reading the few-shot ``.pkl`` files that CoOp-family readers wrote.

CoOp caches few-shot samples as ``split_fewshot/shot_K-seed_S.pkl``: a pickle
of ``{"train": [Datum, ...], "val": [Datum, ...]}`` (ImageNet: only
``"train"``). Loading an arbitrary pickle can run arbitrary code, so these
files are read with an unpickler that resolves exactly one kind of global,
Dassl's ``Datum`` class, and builds a plain stand-in object instead of
importing anything. Everything else in the file must be a primitive (dict,
list, tuple, str, int, ...); any other global (``os.system``,
``builtins.eval``, ...) is refused before it is resolved.

Nothing in this project writes pickles; the caches it writes are JSON.
"""
import io
import pickle

__all__ = ["LegacyPickleError", "DATUM_CLASSES", "load_legacy_datums"]

# Module paths under which the Datum class of CoOp-era caches was pickled:
# Dassl's (every CoOp-family repository), the package re-export, and this
# project's built-in engine.
DATUM_CLASSES = frozenset(
    {
        ("dassl.data.datasets.base_dataset", "Datum"),
        ("dassl.data.datasets", "Datum"),
        ("enprompt.engine.data.datum", "Datum"),
    }
)

_DATUM_FIELDS = {"_impath": str, "_label": int, "_domain": int, "_classname": str}


class LegacyPickleError(pickle.UnpicklingError, ValueError):
    """A legacy ``.pkl`` cache is unsafe or not a CoOp few-shot cache.

    Also a ``ValueError``, so command lines that report input errors in one
    line (``train.py``) do so for this one too.
    """


class _LegacyDatum:
    """Inert stand-in for a pickled Dassl ``Datum``: holds its four fields."""

    __slots__ = tuple(_DATUM_FIELDS)

    def __setstate__(self, state):
        # Datum's pickled state is its __dict__ (protocol 2+), possibly as the
        # (dict, slots) pair pickle uses for objects with both.
        if isinstance(state, tuple) and len(state) == 2 and state[0] is None:
            state = state[1]
        if not isinstance(state, dict):
            raise LegacyPickleError(f"unexpected Datum state of type {type(state).__name__}")
        for key, value in state.items():
            expected = _DATUM_FIELDS.get(key)
            if expected is None:
                raise LegacyPickleError(f"unexpected Datum attribute {key!r}")
            if not isinstance(value, expected) or isinstance(value, bool):
                raise LegacyPickleError(
                    f"Datum attribute {key!r} is a {type(value).__name__}, "
                    f"expected {expected.__name__}"
                )
            setattr(self, key, value)

    def as_record(self):
        return (
            getattr(self, "_impath", ""),
            getattr(self, "_label", 0),
            getattr(self, "_classname", ""),
        )


def _reconstruct(cls, base, state):
    # Target of ``copyreg._reconstructor`` (pickle protocols 0 and 1); only
    # ever builds the stand-in.
    if cls is not _LegacyDatum or base is not object or state is not None:
        raise LegacyPickleError("copyreg._reconstructor is allowed only for Datum")
    return _LegacyDatum()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in DATUM_CLASSES:
            return _LegacyDatum
        # protocols 0 and 1 name these with their Python 2 modules
        if (module, name) in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
            return _reconstruct
        if (module, name) in (("builtins", "object"), ("__builtin__", "object")):
            return object
        raise LegacyPickleError(
            f"refusing to load {module}.{name}: a CoOp few-shot cache contains only "
            "Dassl Datum objects in dicts and lists"
        )

    def persistent_load(self, pid):
        raise LegacyPickleError("persistent ids are not allowed in a few-shot cache")


def load_legacy_datums(path, keys=("train", "val")):
    """Load a CoOp ``.pkl`` cache as ``{key: [(impath, label, classname), ...]}``.

    Args:
        path (str): the ``.pkl`` file.
        keys (tuple[str]): keys the file must hold (ImageNet: ``("train",)``).

    Raises:
        LegacyPickleError: the file references anything but Dassl's ``Datum``,
            or its content is not ``{key: [Datum, ...]}``. The message names
            the file and says to delete it.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data)).load()
        if not isinstance(obj, dict):
            raise LegacyPickleError(f"expected a dict, got a {type(obj).__name__}")
        output = {}
        for key in keys:
            items = obj.get(key)
            if not isinstance(items, list):
                raise LegacyPickleError(f'expected a list of Datum under "{key}"')
            for item in items:
                if not isinstance(item, _LegacyDatum):
                    raise LegacyPickleError(
                        f'expected only Datum objects under "{key}", found a {type(item).__name__}'
                    )
            output[key] = [item.as_record() for item in items]
    except LegacyPickleError as e:
        raise LegacyPickleError(
            f'Cannot use the few-shot cache "{path}": {e}. It is not a CoOp few-shot '
            "cache, or it was tampered with. Delete it; the few-shot samples are then "
            "drawn again (same seed, same samples) and cached as JSON."
        ) from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError,
            IndexError, KeyError) as e:
        raise LegacyPickleError(
            f'Cannot read the few-shot cache "{path}" ({type(e).__name__}: {e}). Delete it; '
            "the few-shot samples are then drawn again and cached as JSON."
        ) from None
    return output
