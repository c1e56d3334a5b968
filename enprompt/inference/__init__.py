"""Using a trained EnPrompt model: classify images over any class list, export it.

* ``classifier``: :class:`EnPromptClassifier` (``from_run``, ``from_file``,
  ``set_classes``, ``predict``) and :class:`Prediction`;
* ``trained_model``: :class:`TrainedModel`, what rebuilds a model (no CLIP weights);
* ``run_folder``: the trained model of a run folder, from its manifest;
* ``model_file``: the ``.safetensors`` model file (``python -m enprompt.export``);
* ``inputs``: images (paths, PIL images, tensors) turned into batches.

The command lines are ``python -m enprompt.predict`` and ``python -m enprompt.export``.
Names are imported on first use.
"""
from enprompt.lazy import lazy_exports

_EXPORTS = {
    "EnPromptClassifier": "classifier",
    "Prediction": "classifier",
    "TrainedModel": "trained_model",
    "TrainedModelError": "trained_model",
    "RunWithoutManifestError": "run_folder",
    "read_run": "run_folder",
    "read_run_with_config": "run_folder",
    "MODEL_FILE_FORMAT": "model_file",
    "save_model_file": "model_file",
    "load_model_file": "model_file",
    "ImageInputError": "inputs",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
