"""Package attributes imported on first use (PEP 562), so that importing a
package loads only the submodules its caller needs."""
import importlib
import sys

__all__ = ["lazy_exports"]


def lazy_exports(package, exports):
    """``(__getattr__, __dir__)`` for ``package`` whose names live in its submodules.

    Args:
        package (str): the package's ``__name__``.
        exports (dict): ``{name: submodule}``, the submodule relative to the
            package (``"checkpoint"``, ``"data.datum"``).

    Example, in a package's ``__init__.py``::

        __getattr__, __dir__ = lazy_exports(__name__, {"save_checkpoint": "checkpoint"})
    """
    names = sorted(exports)

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    def __dir__():
        return names

    return __getattr__, __dir__
