"""Which engine runs, decided without importing either one (standard library only).

``enprompt.dassl`` (the switch) uses the real Dassl when it is installed and
the built-in engine otherwise; ``ENPROMPT_ENGINE=builtin`` selects the
built-in one even where Dassl is installed. The choice and the default
config of the chosen engine are available here without importing PyTorch,
so that ``train.py`` can check its command line, merge its config and decide
what to do with the run folder before any heavy import.
"""
import importlib
import importlib.util
import os

__all__ = ["selected_engine", "get_cfg_default"]


def selected_engine():
    """``"dassl"`` when Dassl.pytorch is importable (and not overridden), else ``"builtin"``."""
    if os.environ.get("ENPROMPT_ENGINE", "").lower() == "builtin":
        return "builtin"
    return "builtin" if importlib.util.find_spec("dassl") is None else "dassl"


def get_cfg_default():
    """A fresh default config of the selected engine (Dassl's keys and defaults)."""
    if selected_engine() == "dassl":
        return importlib.import_module("dassl.config").get_cfg_default()
    return importlib.import_module("enprompt.engine.defaults").get_cfg_default()
