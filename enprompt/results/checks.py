"""Which finished results belong together, from the runs' manifests.

A table cell averages the seeds of one experiment, and a base-to-novel row
(or a cross-dataset table) pairs each evaluation with the model it
evaluated. A finished result that breaks either rule is *mixed*: it is kept
out of the cell and listed with the reason, never averaged silently.

* :func:`stale_evaluation`: an evaluation whose checkpoint is not the final
  checkpoint of the model run in its model folder (the model was trained
  again, or the evaluation was copied from elsewhere);
* :func:`mixed_experiments`: seeds of one cell that are different experiments
  (their manifests' configs differ in more than the seed, as ``train.py``
  compares them);
* :func:`misplaced`: a run in the wrong kind of folder, or in the folder of
  another seed;
* :func:`settings_used`: the values of config keys (shots, epochs) over the
  runs of a table, for its header.

Runs without a manifest (written before manifests existed) cannot be checked;
the tables say so.
"""
import re
from collections import OrderedDict

from enprompt.run.identity import SEED_KEY, default_result_keys, experiment_diff

from .runs import short_id

__all__ = ["stale_evaluation", "mixed_experiments", "misplaced",
           "settings_used", "seeds_text", "where_text"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def seeds_text(seeds):
    """``seed 1`` or ``seeds 1, 3``."""
    seeds = sorted(seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


def _show(value):
    if isinstance(value, str) and _SHA256.match(value):
        return short_id(value, 12)
    return repr(value) if isinstance(value, str) else str(value)


def _model_now(model):
    manifest = model.manifest
    final = model.checkpoint
    if manifest["status"] == "finished" and final:
        return (f"run {short_id(model.run_id)}, finished at epoch {final.get('epoch')} "
                f"(sha256 {short_id(final.get('sha256'), 12)})")
    epochs = manifest.get("epochs") or {}
    done = f" at epoch {epochs['done']}" if epochs.get("done") is not None else ""
    return f"run {short_id(model.run_id)}, {manifest['status']}{done}"


def stale_evaluation(evaluation, model, rerun):
    """Why ``evaluation``'s result is not of ``model``'s final checkpoint, or None.

    Args:
        evaluation (Run): a finished ``--eval-only`` run with a manifest.
        model (Run or None): the training run it should have evaluated.
        rerun (str): how to evaluate again, e.g. ``rerun base2new_test.sh dtd 1``.

    Returns:
        str or None: None when it evaluated the model run's final checkpoint
        (same run id and same SHA256), or when either side has no manifest
        (nothing to check).
    """
    if evaluation.manifest is None or model is None or model.manifest is None:
        return None
    evaluated, final = evaluation.evaluated, model.checkpoint
    if (evaluated.get("model_run_id") == model.run_id and final.get("sha256")
            and evaluated.get("sha256") == final.get("sha256")):
        return None
    return (
        f"mixed checkpoints: it evaluated epoch {evaluated.get('epoch')} of model run "
        f"{short_id(evaluated.get('model_run_id'))} (sha256 "
        f"{short_id(evaluated.get('sha256'), 12)}), but the model folder {model.run_dir} now "
        f"holds {_model_now(model)}; not counted. To evaluate that model, {rerun}"
    )


def _differing_keys(runs, defaults):
    """The identity keys (but SEED) in which some run differs from the first one.

    ``experiment_diff`` forgives a key the *stored* side predates; between two
    stored runs either may predate it, so a key differs when it does both ways.
    """
    first, keys = runs[0], set()
    for run in runs[1:]:
        one_way = {key for key, _, _ in experiment_diff(run.keys, first.keys, defaults)}
        other_way = {key for key, _, _ in experiment_diff(first.keys, run.keys, defaults)}
        keys |= one_way & other_way
    return sorted(keys - {SEED_KEY})


def mixed_experiments(runs, defaults=None):
    """Why the finished ``runs`` of one cell must not be averaged, or None.

    Runs without a manifest are not compared (there is nothing to compare).
    Two runs are the same experiment when ``train.py`` would take one for the
    other, but for the seed: their identities differ in no key, a key one
    of them predates counting only when the other's is not at its default.

    Args:
        runs (list[Run]): finished runs.
        defaults (dict or None): ``{key: default}``; None: :func:`default_result_keys`.

    Returns:
        str or None: the keys in which the seeds differ, with each value and
        its seeds.
    """
    checked = [run for run in runs if run.manifest is not None]
    if len({run.experiment_hash for run in checked}) <= 1:
        return None
    keys = _differing_keys(checked, default_result_keys() if defaults is None else defaults)
    if not keys:
        return None
    parts = []
    for key in keys:
        values = OrderedDict()
        for run in checked:
            value = _show(run.keys[key]) if key in run.keys else "(absent)"
            values.setdefault(value, []).append(run.seed)
        parts.append(f"{key}: " + ", ".join(f"{value} ({seeds_text(seeds)})"
                                            for value, seeds in values.items()))
    return (
        "mixed configs: these seeds are different experiments (" + "; ".join(parts)
        + "); none of them is averaged. Rerun the odd seeds with the options of the others "
        "(OVERWRITE=1), or keep variants apart with OUTPUT or CFG"
    )


def misplaced(run, eval_only):
    """Why ``run`` does not belong in its folder, or None.

    Args:
        run (Run): a finished run with a manifest.
        eval_only (bool): the folder is that of an ``--eval-only`` step.
    """
    if run.manifest is None:
        return None
    if (run.kind == "eval") != eval_only:
        found, expected = (("a training run", "an evaluation") if eval_only
                           else ("an evaluation (--eval-only)", "a training run"))
        return f"misplaced: the folder of {expected} holds {found}; not counted"
    seed = run.manifest_seed
    if run.seed is not None and seed is not None and seed != run.seed:
        return (f"misplaced: its folder says seed {run.seed}, but the run used SEED {seed} "
                "(copied or renamed?); not counted")
    return None


def settings_used(labelled_runs, key):
    """The values of identity key ``key`` over the runs that have a manifest.

    Args:
        labelled_runs (list[tuple[str, Run]]): e.g. ``[("DTD", run), ...]``.
        key (str): e.g. ``"DATASET.NUM_SHOTS"``.

    Returns:
        OrderedDict: ``{value: {label: [seeds]}}``, values in increasing order.
    """
    found = {}
    for label, run in labelled_runs:
        if run.manifest is None or key not in run.keys:
            continue
        found.setdefault(run.keys[key], OrderedDict()).setdefault(label, []).append(run.seed)
    return OrderedDict(sorted(found.items(), key=lambda item: _order(item[0])))


def where_text(labels):
    """``DTD seed 1; EuroSAT seeds 1, 2`` of ``{label: [seeds]}``."""
    return "; ".join(
        f"{label} {seeds_text(seeds)}" if None not in seeds else label
        for label, seeds in labels.items()
    )


def _order(value):
    # numbers by value, anything else (a list, a string) after them by its text
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))
