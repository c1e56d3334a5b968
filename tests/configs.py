"""Fresh configs for tests that build a model or a trainer without ``train.py``.

``make_cfg(*opts)`` is Dassl's defaults plus EnPrompt's keys, with ``opts``
(``KEY, VALUE, ...``) merged as ``train.py`` merges the options that end its
command line: through yacs' ``merge_from_list``, so a misspelt key or a value
of the wrong type fails the test. ``engine`` chooses whose defaults:
``enprompt.dassl`` (the default: the engine the switch selects) or
``enprompt.engine`` (the built-in one, whatever is installed).
``enprompt_keys=False`` leaves out ``TRAINER.ENPROMPT`` and
``DATASET.SUBSAMPLE_CLASSES``, for the engine's own tests.

The config is returned unfrozen.
"""
from enprompt.config import add_enprompt_config

__all__ = ["make_cfg"]


def make_cfg(*opts, engine=None, enprompt_keys=True):
    """Defaults of ``engine`` (module; ``None``: ``enprompt.dassl``), EnPrompt's keys, then ``opts``."""
    if engine is None:
        # imported here: the engine's own tests must not load (a possibly broken) Dassl
        import enprompt.dassl as engine
    cfg = engine.get_cfg_default()
    if enprompt_keys:
        add_enprompt_config(cfg)
    cfg.merge_from_list(list(opts))
    return cfg
