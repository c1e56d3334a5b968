"""What ``train.py`` would do with a job's run folder now, decided the way ``train.py`` decides.

The config comes from ``train.py``'s own parser and ``setup_cfg`` (the same
merge order, the same checks), and the decision from
:meth:`enprompt.run.RunSession.preview`, which is :meth:`~enprompt.run.RunSession.open`
without the lock and without writing. ``train.py`` loads PyTorch only after its
decision, so nothing here does either.
"""
import importlib.util
import os.path as osp
import sys

from enprompt.engine_choice import selected_engine
from enprompt.run import RunConflict, RunFolderBusy, RunSession, format_diff
from enprompt.run.identity import default_result_keys
from enprompt.run.manifest import ManifestError

from .plan import REPO, SweepError

__all__ = ["train_py_module", "decide"]

_MODULE = "enprompt_sweep_train_py"
_defaults = {}


def train_py_module():
    """The repository's ``train.py`` as a module (loaded once; it imports no torch)."""
    if _MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(_MODULE, osp.join(REPO, "train.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_MODULE]


def _first_line(error):
    return str(error).strip().splitlines()[0]


def decide(args, world_size=1):
    """``(action, reason)`` for one ``train.py`` command line ``args``.

    ``action`` is ``skip``, ``run`` or ``refuse`` (another experiment in the
    folder, a damaged manifest, another process working there).

    Raises:
        SweepError: ``train.py`` would reject the command line itself (e.g. an
            unknown config key after ``--``), as every job would.
    """
    train = train_py_module()
    parsed = train.build_parser().parse_args(args)
    for name in ("config_file", "dataset_config_file"):  # the scripts run from the repository
        value = getattr(parsed, name)
        if value and not osp.isabs(value):
            setattr(parsed, name, osp.join(REPO, value))
    try:
        cfg = train.setup_cfg(parsed)
    except (OSError, ValueError) as error:
        raise SweepError(f"train.py would refuse the runs' options: {error}") from None
    if "result_keys" not in _defaults:
        _defaults["result_keys"] = default_result_keys()
    session = RunSession(
        cfg, kind="eval" if parsed.eval_only else "train", command=["train.py", *args],
        engine=selected_engine(), overwrite=parsed.overwrite,
        model_dir=parsed.model_dir if parsed.eval_only else "",
        explicit_epoch=parsed.load_epoch, defaults=_defaults["result_keys"],
        world_size=world_size if not parsed.eval_only else 1,
    )
    try:
        decision = session.preview()
    except (RunConflict, RunFolderBusy, ManifestError) as error:
        reason = _first_line(error)
        if getattr(error, "diff", None):  # another experiment: name what differs
            reason += " " + "; ".join(format_diff(error.diff))
        return "refuse", reason
    if decision.action == "skip":
        return "skip", decision.reason
    words = {"start": "new", "resume": "resume", "legacy": "resume (folder without manifest)",
             "overwrite": "start over"}
    return "run", words.get(decision.action, decision.action) if decision.action != "start" \
        else (decision.reason if decision.manifest is not None else "new")
