"""A trained EnPrompt model in one small ``.safetensors`` file (no pickle).

The file holds the learnable tensors (the ``prompt_learner`` state dict,
float32) and, as its string metadata, everything that rebuilds the model
around the frozen CLIP (:class:`~enprompt.inference.trained_model.TrainedModel`)::

    format        "enprompt-model/1"
    backbone      MODEL.BACKBONE.NAME, e.g. "ViT-B/16"
    settings      JSON: the TRAINER.ENPROMPT settings
    templates     JSON: the templates of the frozen text features
    classnames    JSON: the classes it was trained on, in label order
    input         JSON: the INPUT settings of the test transform
    clip_sha256   SHA256 of the CLIP weights it was trained with ("" if unknown);
                  checked when the model is built
    source        JSON: the run folder, checkpoint and epoch it was exported from
    enprompt      the version of this package that wrote it

For ViT-B/16 with the default settings the file is about 2.5 MB. It is read
with ``safetensors`` (tensors and strings only: loading it runs no code).
"""
import json
import os.path as osp

from enprompt.fileio import atomic_write
from enprompt.version import __version__

from .trained_model import TrainedModel, TrainedModelError

__all__ = ["MODEL_FILE_FORMAT", "save_model_file", "load_model_file"]

MODEL_FILE_FORMAT = "enprompt-model/1"
_JSON_FIELDS = ("settings", "templates", "classnames", "input", "source")


def save_model_file(model, path):
    """Write ``model`` (a :class:`TrainedModel`) to ``path`` atomically.

    Returns:
        str: ``path``.
    """
    from safetensors.torch import save

    metadata = {
        "format": MODEL_FILE_FORMAT,
        "backbone": model.backbone,
        "clip_sha256": model.clip_sha256 or "",
        "enprompt": __version__,
    }
    for name in _JSON_FIELDS:
        metadata[name] = json.dumps(getattr(model, name))
    source = {k: v for k, v in model.source.items() if k != "model_file"}
    metadata["source"] = json.dumps(source)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict.items()}
    with atomic_write(path, "wb") as f:
        f.write(save(tensors, metadata=metadata))
    return path


def _not_a_model_file(path, why):
    return TrainedModelError(
        f'"{path}" is not an EnPrompt model file ({why}). Model files are written by '
        "`python -m enprompt.export RUN_DIR OUT.safetensors`; a run folder is loaded with "
        "EnPromptClassifier.from_run(RUN_DIR) instead"
    )


def load_model_file(path):
    """Read a file written by :func:`save_model_file`.

    Raises:
        FileNotFoundError: no such file.
        TrainedModelError: not a safetensors file, or not one of this format.
    """
    from safetensors import SafetensorError, safe_open

    if not osp.isfile(path):
        raise FileNotFoundError(f'No model file "{path}"')
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError) as e:
        raise _not_a_model_file(path, f"safetensors cannot read it: {e}") from e
    if metadata.get("format") != MODEL_FILE_FORMAT:
        raise _not_a_model_file(
            path, f"its metadata has format {metadata.get('format')!r}, expected {MODEL_FILE_FORMAT!r}"
        )
    try:
        fields = {name: json.loads(metadata[name]) for name in _JSON_FIELDS}
        backbone = metadata["backbone"]
    except (KeyError, ValueError) as e:
        raise _not_a_model_file(path, f"its metadata lacks or garbles {e}") from e
    fields["source"] = dict(fields["source"] or {}, model_file=osp.abspath(path))
    return TrainedModel(
        backbone=backbone,
        clip_sha256=metadata.get("clip_sha256") or None,
        state_dict=tensors,
        **fields,
    )
