"""The trained model of a run folder, rebuilt from its manifest.

A run of ``train.py`` records in ``<run>/manifest.json`` (:mod:`enprompt.run.manifest`)
its resolved config, its class names, the CLIP weights' SHA256 and, once
finished, its final checkpoint (path, epoch, SHA256). That is all
:func:`read_run` needs: no Dassl, no dataset folder. An evaluation run
(``--eval-only``, e.g. base-to-novel's test on the new classes) gives the
model it evaluated, with its own classes as the default class list.

A run folder written before manifests existed has only its log and
checkpoints; :func:`read_run_with_config` rebuilds its model from the config
and class names of its training, given again (``python -m enprompt.export
RUN_DIR OUT --config-file ...``).
"""
import os.path as osp

from yacs.config import CfgNode as CN

from enprompt.checkpoint_layout import POINTER_FILE, checkpoint_name, epoch_of, saved_epochs
from enprompt.run.identity import CLIP_SHA256_KEY
from enprompt.run.manifest import MANIFEST_NAME, read_manifest
from enprompt.run.provenance import clip_weights_sha256, file_sha256

from .trained_model import TrainedModelError, trained_model_from_cfg

__all__ = ["TRAINER", "MODEL_NAME", "RunWithoutManifestError", "read_run", "read_run_with_config"]

# The trainer whose runs this reads, and the name its learnable model is registered under.
TRAINER = "EnPrompt"
MODEL_NAME = "prompt_learner"


class RunWithoutManifestError(TrainedModelError, FileNotFoundError):
    """A run folder has no ``manifest.json`` (written before manifests existed)."""


def _without_manifest(run_dir):
    return RunWithoutManifestError(
        f'"{osp.join(run_dir, MANIFEST_NAME)}" not found: the folder holds no run manifest (it '
        "was written before runs recorded their config and class names, or is not a run "
        "folder), so the model cannot be rebuilt from it alone. Export it from the config "
        "of its training instead:\n"
        f"  python -m enprompt.export {run_dir} model.safetensors --config-file "
        "<its --config-file> --dataset-config-file <its --dataset-config-file> --root $DATA "
        "[its KEY VALUE options]\n"
        'then load it with EnPromptClassifier.from_file("model.safetensors").'
    )


def _load_learnables(path, expected_sha256, backbone):
    from enprompt.engine.checkpoint import load_checkpoint  # torch, weights_only=True

    if not osp.isfile(path):
        raise TrainedModelError(
            f'The checkpoint "{path}" recorded by the run manifest is gone; restore it, or '
            "train the run again"
        )
    if expected_sha256 and file_sha256(path) != expected_sha256:
        raise TrainedModelError(
            f'The checkpoint "{path}" is not the file the run saved (its SHA256 differs from '
            "the one in the manifest): it was overwritten or damaged. Restore it, or train "
            "the run again"
        )
    checkpoint = load_checkpoint(path)
    meta = checkpoint.get("meta") or {}
    for key, expected in (("trainer", TRAINER), ("backbone", backbone)):
        if key in meta and meta[key] != expected:
            raise TrainedModelError(
                f'The checkpoint "{path}" was saved by {key} {meta[key]!r}, not {expected!r}'
            )
    return checkpoint["state_dict"]


def _model_of_eval_run(run_dir, manifest):
    evaluated = manifest.get("evaluated") or {}
    model_dir, name = evaluated.get("model_dir"), evaluated.get("checkpoint")
    if not model_dir or not name:
        raise TrainedModelError(
            f"{run_dir} is an evaluation run that records no trained model (a zero-shot "
            "evaluation, or one that did not finish); use the run folder of the training"
        )
    return osp.join(model_dir, name), evaluated.get("sha256"), evaluated.get("epoch")


def read_run(run_dir):
    """The :class:`~enprompt.inference.trained_model.TrainedModel` of a finished run folder.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        RunWithoutManifestError: no manifest (the message gives the alternative).
        ManifestError: a damaged manifest.
        TrainedModelError: not an EnPrompt run, not finished, or its
            checkpoint is gone or changed.
    """
    run_dir = osp.abspath(run_dir)
    if not osp.isdir(run_dir):
        raise FileNotFoundError(f'Run folder "{run_dir}" does not exist')
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise _without_manifest(run_dir)
    if manifest.get("trainer") != TRAINER:
        raise TrainedModelError(
            f"{run_dir} is a run of the trainer {manifest.get('trainer')!r}; only {TRAINER} "
            "runs hold a trained model"
        )
    if manifest["status"] != "finished":
        raise TrainedModelError(
            f"{run_dir} has status {manifest['status']!r}, not 'finished'"
            + (f" ({manifest['error']})" if manifest.get("error") else "")
            + ": its final model is not known. Rerun its command to finish it (a training "
            "resumes from its last checkpoint)"
        )
    cfg = CN.load_cfg(manifest["config"])
    if manifest["kind"] == "eval":
        path, sha256, epoch = _model_of_eval_run(run_dir, manifest)
    else:
        record = manifest.get("checkpoint") or {}
        if not record.get("path"):
            raise TrainedModelError(f"The manifest of {run_dir} records no final checkpoint")
        path, sha256, epoch = osp.join(run_dir, record["path"]), record.get("sha256"), record.get("epoch")
    state_dict = _load_learnables(path, sha256, cfg.MODEL.BACKBONE.NAME)
    source = {
        "run_dir": run_dir, "run_id": manifest["run_id"],
        "identity_hash": manifest["identity"]["hash"],
        "checkpoint": path, "epoch": epoch, "checkpoint_sha256": sha256,
    }
    return trained_model_from_cfg(
        cfg, manifest.get("classnames"), state_dict,
        manifest["identity"]["keys"].get(CLIP_SHA256_KEY), source,
    )


def _last_epoch(run_dir):
    folder = osp.join(run_dir, MODEL_NAME)
    pointer = osp.join(folder, POINTER_FILE)
    if osp.isfile(pointer):
        with open(pointer) as f:
            epoch = epoch_of(f.readline().strip())
        if epoch is not None:
            return epoch
    epochs = saved_epochs(folder)
    if not epochs:
        raise TrainedModelError(
            f"{folder} holds no checkpoint model.pth.tar-N; is {run_dir} the folder of a "
            f"finished {TRAINER} training?"
        )
    return epochs[-1]


def read_run_with_config(run_dir, cfg, classnames, epoch=None):
    """The trained model of a run folder without manifest, from its config.

    Args:
        run_dir (str): the run folder (its ``prompt_learner/model.pth.tar-N``).
        cfg (CfgNode): the resolved config of its training (same config
            files and options).
        classnames (list[str]): the classes it was trained on, in label order.
        epoch (int, optional): the checkpoint to read (default: the last).
    """
    run_dir = osp.abspath(run_dir)
    if not osp.isdir(run_dir):
        raise FileNotFoundError(f'Run folder "{run_dir}" does not exist')
    epoch = _last_epoch(run_dir) if epoch is None else epoch
    path = osp.join(run_dir, MODEL_NAME, checkpoint_name(epoch))
    state_dict = _load_learnables(path, None, cfg.MODEL.BACKBONE.NAME)
    clip_sha256 = clip_weights_sha256(cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS, cfg.MODEL.BACKBONE.NAME)
    source = {"run_dir": run_dir, "checkpoint": path, "epoch": epoch,
              "checkpoint_sha256": file_sha256(path)}
    return trained_model_from_cfg(cfg, classnames, state_dict, clip_sha256, source)
