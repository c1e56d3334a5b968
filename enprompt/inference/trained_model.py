"""A trained EnPrompt model as data: what rebuilds it, without CLIP's weights.

A :class:`TrainedModel` holds the learnable tensors (the ``prompt_learner``
state dict, a few MB for ViT-B/16) and everything else the model is built
from: the backbone name, the ``TRAINER.ENPROMPT`` settings, the templates of
the frozen text features, the class names it was trained on (its default
class list), the ``INPUT`` settings of its test transform and the SHA256 of
the CLIP weights it was trained with. It comes from a run folder
(:mod:`.run_folder`) or a ``.safetensors`` file (:mod:`.model_file`) and
is what :class:`~enprompt.inference.classifier.EnPromptClassifier` builds.

Plain Python and yacs (no torch at import).
"""
import json
from dataclasses import dataclass, field

from yacs.config import CfgNode as CN

from enprompt.config import add_enprompt_config
from enprompt.errors import UserError
from enprompt.templates import cfg_templates

__all__ = ["TrainedModelError", "TrainedModel", "trained_model_from_cfg", "plain"]

# Keys of TRAINER.ENPROMPT that do not define the model: where a machine keeps
# its CLIP weights (their SHA256 is kept instead).
_MACHINE_KEYS = ("CLIP_WEIGHTS",)


class TrainedModelError(UserError, ValueError):
    """A run folder or model file cannot give a model; the message says why and what to do."""


def plain(node):
    """A yacs node (or nested dicts) as plain JSON values: dicts, lists, scalars."""
    return json.loads(json.dumps(node))


@dataclass
class TrainedModel:
    """A trained EnPrompt model (see the module docstring).

    Attributes:
        backbone (str): ``MODEL.BACKBONE.NAME``, e.g. ``"ViT-B/16"``.
        settings (dict): ``TRAINER.ENPROMPT`` (nested), without ``CLIP_WEIGHTS``.
        templates (list[str]): templates of the frozen text features.
        classnames (list[str]): the classes it was trained on, in label order.
        input (dict): ``INPUT`` (size, interpolation, normalisation), for
            the test transform.
        clip_sha256 (str or None): SHA256 of the CLIP weights it was trained with.
        state_dict (dict[str, Tensor]): the ``prompt_learner`` tensors.
        source (dict): where it came from (run folder, checkpoint, epoch,
            their SHA256, the CLIP weights file the run read).
    """

    backbone: str
    settings: dict
    templates: list
    classnames: list
    input: dict
    clip_sha256: str
    state_dict: dict
    source: dict = field(default_factory=dict)

    def settings_cfg(self):
        """A config with ``TRAINER.ENPROMPT`` = :attr:`settings` (defaults for
        keys the settings lack), for :func:`enprompt.model.build_enprompt_model`."""
        cfg = add_enprompt_config(CN())
        _update(cfg.TRAINER.ENPROMPT, self.settings)
        cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS = ""
        return cfg

    def input_cfg(self):
        """A config with ``INPUT`` = :attr:`input`, for the engine's ``build_transform``."""
        return CN({"INPUT": self.input})


def _update(node, values):
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(node.get(key), dict):
            _update(node[key], value)
        else:
            node[key] = value


def trained_model_from_cfg(cfg, classnames, state_dict, clip_sha256, source):
    """The :class:`TrainedModel` of a run's resolved config.

    Args:
        cfg (CfgNode): the config the run used (``TRAINER.ENPROMPT``,
            ``DATASET.NAME`` and ``DATASET.IMAGE_FOLDER.TEMPLATE`` select the
            templates, ``INPUT`` the test transform).
        classnames (list[str]): the run's classes, in label order.
        state_dict (dict): the ``prompt_learner`` tensors of its checkpoint.
        clip_sha256 (str or None): SHA256 of the run's CLIP weights.
        source (dict): provenance, stored as is.
    """
    if not classnames:
        raise TrainedModelError(
            "The run records no class names, so the model has no default class list; "
            "give them with EnPromptClassifier.set_classes(...) or --classes"
        )
    settings = plain(cfg.TRAINER.ENPROMPT)
    for key in _MACHINE_KEYS:
        settings.pop(key, None)
    return TrainedModel(
        backbone=cfg.MODEL.BACKBONE.NAME,
        settings=settings,
        templates=list(cfg_templates(cfg)),
        classnames=list(classnames),
        input=plain(cfg.INPUT),
        clip_sha256=clip_sha256,
        state_dict={k: v.detach().float().cpu().contiguous() for k, v in state_dict.items()},
        source=dict(source, clip_weights=cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS),
    )
