"""The checks of a run that need no model, done before anything is printed or built.

``train.py`` runs :func:`preflight` once it has decided what to do with the
run folder and before it writes the run's log, prints its config and system
information or builds the trainer, so that a typo costs one line instead of
some 200 lines of config followed by a traceback:

1. the trainer is registered (``--trainer``; the message suggests the
   closest registered name);
2. the data root is given and exists (``--root``, ``DATASET.ROOT``);
3. the dataset folder has the layout its reader expects: the same check as
   the readers' and ``python -m enprompt.data check`` (:mod:`enprompt.data.checks`);
4. the CLIP weights can be found: the loader's own resolution
   (:func:`enprompt.clip_loader.resolve_clip_weights`), which downloads a
   missing official file into the cache, or says where to put it when that
   is not possible here.

:func:`check_resume_folder` (``--resume DIR``, checked with the other flags)
refuses a folder that does not exist or holds no checkpoint, which Dassl
silently trains from scratch instead of resuming.

Each failure is a :class:`PreflightError` (or the error of the check it
reuses), a :class:`~enprompt.errors.UserError` that ``train.py`` prints as one
``Error:`` line.
"""
import difflib
import os
import os.path as osp

from enprompt.errors import UserError

__all__ = ["PreflightError", "FolderArgumentError", "preflight", "check_trainer", "check_data_root", "check_dataset",
           "check_clip_weights", "check_resume_folder"]


class PreflightError(UserError, ValueError):
    """A run that cannot start; the message names what is wrong and the fix."""


class FolderArgumentError(UserError, FileNotFoundError):
    """A folder named by a flag (``--resume``, ``--model-dir``) is missing, a file, or empty."""


def check_trainer(name, registered):
    """``name`` (``TRAINER.NAME``) is one of ``registered``, or a PreflightError with the closest."""
    if name in registered:
        return
    names = ", ".join(sorted(registered))
    if not name:
        raise PreflightError(f"No trainer given: pass --trainer NAME (registered trainers: {names})")
    close = difflib.get_close_matches(name, list(registered), n=1, cutoff=0.5)
    if not close:
        close = [n for n in registered if n.lower() == name.lower()]
    mean = f" Did you mean {close[0]}?" if close else ""
    raise PreflightError(f'Unknown trainer "{name}" (--trainer, TRAINER.NAME).{mean} '
                         f"Registered trainers: {names}")


def _dataset_layout(cfg):
    """The :class:`~enprompt.data.catalog.DatasetLayout` of ``cfg.DATASET.NAME`` (None:
    a reader this project does not describe, which checks its folder itself)."""
    from enprompt.data.catalog import layout_of_reader
    from enprompt.data.image_folder import IMAGE_FOLDER_READER, SplitRule, image_folder_layout

    name = cfg.DATASET.NAME
    if name == IMAGE_FOLDER_READER and "IMAGE_FOLDER" in cfg.DATASET:
        return image_folder_layout(cfg.DATASET.IMAGE_FOLDER.DIR, SplitRule.from_cfg(cfg))
    try:
        return layout_of_reader(name)
    except KeyError:
        return None


def check_data_root(cfg, layout=None):
    """``DATASET.ROOT`` is given (unless the image folder is an absolute path) and is a folder."""
    root = cfg.DATASET.ROOT
    if layout is not None and osp.isabs(layout.folder):
        return  # an image folder given by its absolute path needs no root
    if not root.strip():
        raise PreflightError(
            "The data root is empty: pass --root DATA (or DATASET.ROOT DATA), the folder that "
            "holds the dataset folders (e.g. DATA/dtd); see docs/DATASETS.md"
        )
    path = osp.abspath(osp.expanduser(root))
    if not osp.exists(path):
        raise PreflightError(
            f'The data root "{root}" (--root, DATASET.ROOT) does not exist ({path}): pass the '
            "folder that holds the dataset folders (e.g. DATA/dtd); see docs/DATASETS.md"
        )
    if not osp.isdir(path):
        raise PreflightError(
            f'The data root "{root}" (--root, DATASET.ROOT) is a file, not a folder: pass the '
            "folder that holds the dataset folders (e.g. DATA/dtd); see docs/DATASETS.md"
        )


def check_dataset(cfg, layout):
    """The dataset folder is as its reader expects (the readers' own check), or its first problem."""
    from enprompt.data.checks import raise_if_not_ready

    if not cfg.DATASET.NAME:
        raise PreflightError(
            "No dataset given (DATASET.NAME is empty): pass --dataset-config-file "
            "configs/datasets/<name>.yaml (e.g. configs/datasets/dtd.yaml)"
        )
    if layout is not None:
        raise_if_not_ready(layout, cfg.DATASET.ROOT)


def check_clip_weights(cfg):
    """The CLIP weights resolve to a file (downloaded into the cache when missing and possible)."""
    from enprompt.clip_loader import resolve_clip_weights

    if "ENPROMPT" in cfg.TRAINER:
        resolve_clip_weights(cfg.MODEL.BACKBONE.NAME, cfg.TRAINER.ENPROMPT.CLIP_WEIGHTS)


def preflight(cfg, registered_trainers):
    """Every check above, in order; the first failure raises (see the module docstring)."""
    check_trainer(cfg.TRAINER.NAME, registered_trainers)
    layout = _dataset_layout(cfg) if cfg.DATASET.NAME else None
    check_data_root(cfg, layout)
    check_dataset(cfg, layout)
    check_clip_weights(cfg)


def check_resume_folder(resume, output_dir=""):
    """``--resume DIR`` names a folder holding a checkpoint (a mistyped one would train from scratch)."""
    from enprompt.checkpoint_layout import list_checkpoints

    if output_dir and osp.abspath(resume) == osp.abspath(output_dir):
        return  # the run's own folder: what the run does there is decided by its manifest
    how = ("--resume needs the output folder of an earlier training run (the one that holds "
           "<model>/model.pth.tar-N); rerunning the same command in its --output-dir resumes it "
           "without --resume.")
    if osp.isfile(resume):
        raise FolderArgumentError(f'--resume "{resume}" is a file, not a folder. {how}')
    if not osp.isdir(resume):
        raise FolderArgumentError(f'--resume "{resume}" does not exist, so nothing would be resumed '
                                f"(the run would train from scratch). {how}")
    models = [osp.join(resume, name) for name in sorted(os.listdir(resume))]
    if not any(list_checkpoints(folder) for folder in models if osp.isdir(folder)):
        raise FolderArgumentError(f'--resume "{resume}" holds no checkpoint (no <model>/model.pth.tar-N '
                                f"in it), so the run would train from scratch. {how}")
