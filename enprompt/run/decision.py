"""Skip, resume, start, or refuse: what a run may do in its folder.

The rules (docs/RELIABILITY.md, "Reusing a run folder"):

* **Training** (``kind="train"``), with the folder's manifest ``M`` and the
  requested identity ``I``:
    - no manifest, empty folder: start;
    - no manifest, folder written before manifests existed: as before
      (resume from its checkpoint, or skip when its log holds a finished
      result), with one warning;
    - ``M``'s identity differs from ``I`` (other values of result keys; a key
      the project gained after ``M`` was written counts only when it is not at
      its default): refuse, naming every differing key with both values and the
      two ways out (another folder, or an explicit overwrite), unless an
      overwrite was asked for;
    - ``M`` finished: skip; otherwise (running, interrupted, failed): resume.
* **Evaluation** (``kind="eval"``) also needs the model folder's state:
    - the model's training is not finished: refuse (with the epochs done and
      how to finish them), unless an epoch was asked for explicitly
      (``--load-epoch N``); that result is then recorded as *partial*;
    - an eval manifest with another identity: refuse, as for training;
    - an eval manifest that is finished and evaluated the checkpoint that is
      still the model's final one: skip; otherwise evaluate (again).
"""
from collections import namedtuple

from enprompt.errors import UserError

from .identity import experiment_diff, format_diff

__all__ = [
    "Decision",
    "ModelState",
    "RunConflict",
    "decide_train",
    "decide_eval",
    "OVERWRITE_HINT",
]

# action: "start", "resume", "skip", "legacy" (a folder without manifest:
# behave as before manifests existed) or "overwrite"; reason: one line for
# the user; manifest: the folder's manifest (or None); partial: an eval of a
# checkpoint that is not a finished model's final one.
Decision = namedtuple("Decision", ["action", "reason", "manifest", "partial"])
Decision.__new__.__defaults__ = (None, False)

# What an evaluation knows of the model folder it reads.
#   manifest: the model run's manifest (None: written before manifests)
#   epochs_on_disk: epochs N of the model.pth.tar-N files found, sorted
ModelState = namedtuple("ModelState", ["model_dir", "manifest", "epochs_on_disk"])

OVERWRITE_HINT = (
    "use another output folder (train.py --output-dir; for the scripts, "
    "OUTPUT=<another output root> or CFG=<config name>), or start over in this folder with "
    "train.py --overwrite (scripts: OVERWRITE=1), which deletes what the folder holds"
)


class RunConflict(UserError, RuntimeError):
    """The run folder holds another experiment, or an evaluation's model is unusable.

    Attributes:
        diff (list): ``[(key, stored, requested)]`` when identities differ.
    """

    def __init__(self, message, diff=None):
        super().__init__(message)
        self.diff = diff or []


def _refuse_other_experiment(run_dir, manifest, diff):
    lines = format_diff(diff)
    status = manifest["status"]
    raise RunConflict(
        f"{run_dir} holds another experiment ({manifest['kind']} run, {status}), so "
        "nothing was started. Differences:\n  " + "\n  ".join(lines) +
        f"\nTo run the requested experiment, {OVERWRITE_HINT}.",
        diff=diff,
    )


# Per kind of run: what a new one is called, what happens to a folder written
# before manifests existed, and what a folder holding the other kind says.
_KIND_WORDS = {
    "train": ("new run", "resumed (or skipped)",
              "holds an evaluation (--eval-only), not a training run. To train"),
    "eval": ("new evaluation", "evaluated (or skipped)",
             "holds a training run, not an evaluation. To evaluate here"),
}


def _folder_decision(run_dir, identity, manifest, has_content, kind, overwrite, partial=False,
                     defaults=None):
    """What training and evaluation decide alike: an empty folder, one written before
    manifests existed, an overwrite, another experiment or another kind of run.

    Returns:
        Decision, or None when the folder holds this same experiment (the
        caller then decides between skipping and running again).
    """
    new, legacy, other_kind = _KIND_WORDS[kind]
    if manifest is None:
        if not has_content:
            return Decision("start", new, None, partial)
        if overwrite:
            return Decision("overwrite", "starting over (--overwrite)", None, partial)
        return Decision(
            "legacy",
            f"{run_dir} was written before run manifests existed, so its config cannot be "
            f"checked against this one; it is {legacy} as before",
            None, partial,
        )
    if overwrite:
        return Decision("overwrite", "starting over (--overwrite)", manifest, partial)
    if manifest["identity"]["hash"] != identity.hash:
        diff = experiment_diff(manifest["identity"]["keys"], identity.keys, defaults)
        if diff:
            _refuse_other_experiment(run_dir, manifest, diff)
    if manifest["kind"] != kind:
        raise RunConflict(f"{run_dir} {other_kind}, {OVERWRITE_HINT}.")
    return None


def decide_train(run_dir, identity, manifest, has_content, overwrite=False, defaults=None):
    """What a training run does in ``run_dir``.

    Args:
        run_dir (str): the output folder.
        identity (Identity): of the requested run.
        manifest (dict or None): the folder's manifest.
        has_content (bool): the folder holds logs or checkpoints.
        overwrite (bool): the user asked to start over in this folder.
        defaults (dict): the result keys of the default config, so that keys the
            project gained after the folder's run are not differences at their
            default (:func:`~enprompt.run.identity.experiment_diff`).

    Returns:
        Decision

    Raises:
        RunConflict: another experiment is in the folder and no overwrite was asked.
    """
    decision = _folder_decision(run_dir, identity, manifest, has_content, "train", overwrite,
                                defaults=defaults)
    if decision is not None:
        return decision
    if manifest["status"] == "finished":
        return Decision("skip", f"finished on {manifest.get('ended')}", manifest)
    if manifest["status"] == "running":  # the lock is free, so its process is gone
        why = "its process ended without recording why, e.g. it was killed"
    else:
        why = f"{manifest['status']}: {manifest.get('error') or 'no reason recorded'}"
    return Decision(
        "resume",
        f"Found an unfinished run of the same experiment ({why}); resuming it from its "
        "last checkpoint",
        manifest,
    )


def _final_checkpoint(model_manifest):
    # {"path", "epoch", "sha256"}; epoch is None for the best-val model.
    checkpoint = model_manifest.get("checkpoint") or {}
    return checkpoint if checkpoint.get("path") else None


def _unfinished_model_message(state):
    manifest = state.manifest
    done = state.epochs_on_disk[-1] if state.epochs_on_disk else 0
    total = (manifest.get("epochs") or {}).get("max")
    if total is None:
        total = manifest["identity"]["keys"].get("OPTIM.MAX_EPOCH")
    status = manifest["status"]
    why = f": {manifest['error']}" if status == "failed" and manifest.get("error") else ""
    return (
        f"The model in {state.model_dir} has not finished training ({status}{why}; "
        f"{done} of {total} epochs done), so it is not evaluated. Finish it by rerunning "
        "its training command (the same script and arguments): it resumes from epoch "
        f"{done + 1}. To evaluate an unfinished checkpoint anyway, pass --load-epoch N "
        "(e.g. LOADEP=N for the scripts); the result is then marked partial."
    )


def decide_eval(run_dir, identity, manifest, has_content, model, explicit_epoch=None,
                overwrite=False, defaults=None):
    """What an ``--eval-only`` run does in ``run_dir``.

    Args:
        run_dir (str): the output folder of the evaluation.
        identity (Identity): of the requested evaluation.
        manifest (dict or None): the evaluation folder's manifest.
        has_content (bool): the folder holds logs.
        model (ModelState or None): the model folder (None: zero-shot, no model).
        explicit_epoch (int or None): ``--load-epoch`` as given by the user.
        overwrite (bool): start over in this folder.
        defaults (dict): see :func:`decide_train`.

    Returns:
        Decision (``partial`` True when the evaluated checkpoint is not the
        final checkpoint of a finished training run).

    Raises:
        RunConflict: the folder holds another experiment, or the model is not
            finished and no epoch was asked for.
    """
    partial = False
    if model is not None and model.manifest is None and not model.epochs_on_disk:
        raise RunConflict(
            f"{model.model_dir} holds no trained model (no manifest.json, no "
            "<model>/model.pth.tar-N). Run the training first (its script, or train.py "
            "without --eval-only), or pass the output folder of a training run as --model-dir."
        )
    if model is not None and model.manifest is not None and model.manifest["kind"] != "train":
        raise RunConflict(
            f"{model.model_dir} holds an evaluation, not a training run. Pass the output "
            "folder of the training run as --model-dir."
        )
    if model is not None and model.manifest is not None:
        final = _final_checkpoint(model.manifest)
        finished = model.manifest["status"] == "finished" and final is not None
        if not finished and explicit_epoch is None:
            raise RunConflict(_unfinished_model_message(model))
        partial = explicit_epoch is not None and (not finished or explicit_epoch != final["epoch"])

    decision = _folder_decision(run_dir, identity, manifest, has_content, "eval", overwrite,
                                partial, defaults=defaults)
    if decision is not None:
        return decision
    if manifest["status"] != "finished":
        return Decision("start", f"the previous evaluation is {manifest['status']}",
                        manifest, partial)
    if manifest.get("partial") or partial:
        return Decision("start", "the previous result is partial; evaluating again",
                        manifest, partial)
    evaluated = manifest.get("evaluated") or {}
    if model is None or model.manifest is None:
        return Decision("skip", f"finished on {manifest.get('ended')}", manifest)
    final = _final_checkpoint(model.manifest)
    same = (
        evaluated.get("model_run_id") == model.manifest["run_id"]
        and evaluated.get("sha256") == final.get("sha256")
    )
    if same:
        return Decision("skip", f"finished on {manifest.get('ended')}", manifest)
    return Decision(
        "start",
        f"the model was trained again since this evaluation (it evaluated epoch "
        f"{evaluated.get('epoch')} of run {evaluated.get('model_run_id')}); evaluating "
        "its final checkpoint",
        manifest,
    )
