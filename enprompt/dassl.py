"""The one switch between the real Dassl and the built-in engine.

Every file of this project imports Dassl names from here, never from
``dassl`` directly::

    from enprompt.dassl import TRAINER_REGISTRY, TrainerX, DATASET_REGISTRY

When Dassl.pytorch is installed (as in every CoOp-family repository), the
names below are the real Dassl objects, so a trainer or reader registered here
is found by the user's own ``train.py``; the built-in trainer and data modules
are then not imported at all. Otherwise they come from :mod:`enprompt.engine`,
which reproduces the same behaviour (splits, few-shot samples, learning-rate
schedule, checkpoints, log lines) for the same seed. The names and where each
engine keeps them are listed once, in :mod:`enprompt.engine.exports`.

A few names always come from this project, because Dassl 0.6.3 is broken on
current PyTorch or unsafe there; they keep Dassl's semantics and file names:

* ``build_lr_scheduler``: Dassl's warm-up schedulers crash when built on
  recent PyTorch (they pass ``verbose`` positionally) and store the successor
  scheduler object in their state dict, which ``torch.load(weights_only=True)``
  refuses.
* ``save_checkpoint``, ``load_checkpoint``, ``resume_from_checkpoint``,
  ``load_pretrained_weights``: atomic writes and ``weights_only=True`` loads.
* ``write_json``: atomic, so a crash never leaves half a split or cache file.
* ``setup_logger``: Dassl names a rerun's log ``log.txt-<time to the second>``,
  so two reruns started in the same second write one file; here every log
  gets a name of its own, and a log that cannot be written (a full disk)
  stops the run with one error naming the file.

``TrainerX`` carries :class:`~enprompt.engine.checkpoint_mixin.CheckpointMixin`
on both engines (the built-in ``TrainerBase`` has it as its first base; with
the real Dassl, ``TrainerX`` here is Dassl's ``TrainerX`` with the mixin in
front): checkpoints, resume, the best-val model and ``load_model`` behave the
same whichever engine runs.

``ENGINE`` is ``"dassl"`` or ``"builtin"``; ``using_real_dassl()`` says the
same. ``ENPROMPT_ENGINE=builtin`` selects the built-in engine even where Dassl
is installed. An installed Dassl that cannot be imported (e.g. a missing
dependency) raises :class:`DasslImportError`, which names the missing piece.
"""
import importlib
import importlib.util

from enprompt import engine as _engine
from enprompt.engine_choice import selected_engine
from enprompt.errors import UserError
from enprompt.engine.exports import ALWAYS_BUILTIN, DASSL_API

__all__ = ["ENGINE", "DasslImportError", "using_real_dassl", *DASSL_API, *ALWAYS_BUILTIN]


class DasslImportError(UserError, ImportError):
    """Dassl.pytorch is installed but cannot be imported; the message says what is missing."""


def _broken_dassl(problem, missing=None):
    spec = importlib.util.find_spec("dassl")
    where = f" ({list(spec.submodule_search_locations)[0]})" if spec.submodule_search_locations else ""
    piece = f"the missing module {missing!r}" if missing else "what is missing"
    return DasslImportError(
        f"Dassl.pytorch is installed{where} but cannot be used: {problem}. Install {piece} "
        "into this environment, or set ENPROMPT_ENGINE=builtin to use this project's "
        "built-in engine, which needs no Dassl."
    )


def _import_dassl_names():
    """The names of ``DASSL_API`` from the installed Dassl, or a DasslImportError."""
    names = {}
    for name, (module_name, _) in DASSL_API.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise _broken_dassl(
                f"importing {module_name} failed ({type(err).__name__}: {err})",
                missing=getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None,
            ) from None
        try:
            names[name] = getattr(module, name)
        except AttributeError:
            raise _broken_dassl(
                f"{module_name} has no {name} (this project needs the API of Dassl.pytorch 0.6.3)"
            ) from None
    return names


ENGINE = selected_engine()

if ENGINE == "dassl":
    from enprompt.engine.checkpoint_mixin import CheckpointMixin

    _names = _import_dassl_names()
    _DataManager = _names["DataManager"]

    class TrainerX(CheckpointMixin, _names["TrainerX"]):
        """Dassl's ``TrainerX`` with the project's checkpoints: atomic, loaded with
        ``weights_only=True``, a resume point after every epoch and a strict
        ``load_model`` (same folder and file names as Dassl's); its data loaders
        read images through :mod:`enprompt.dassl_data` (an unreadable one is named)."""

        def build_data_loader(self):
            """Dassl's ``SimpleTrainer.build_data_loader``, with the project's ``DatasetWrapper``."""
            from enprompt.dassl_data import DatasetWrapper

            dm = _DataManager(self.cfg, dataset_wrapper=DatasetWrapper)
            hint = getattr(dm.dataset, "image_error_hint", "")
            for loader in (dm.train_loader_x, dm.train_loader_u, dm.val_loader, dm.test_loader):
                if loader is not None:
                    loader.dataset.image_error_hint = hint
            self.train_loader_x = dm.train_loader_x
            self.train_loader_u = dm.train_loader_u
            self.val_loader = dm.val_loader
            self.test_loader = dm.test_loader
            self.num_classes = dm.num_classes
            self.num_source_domains = dm.num_source_domains
            self.lab2cname = dm.lab2cname
            self.dm = dm

    _names["TrainerX"] = TrainerX
else:
    _names = {name: getattr(_engine, name) for name in DASSL_API}

globals().update(_names)
globals().update({name: getattr(_engine, name) for name in ALWAYS_BUILTIN})
del _names


def using_real_dassl():
    """True when the names of this module are the real Dassl's."""
    return ENGINE == "dassl"
