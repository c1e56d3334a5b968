"""The checkpoints a run folder holds, read without PyTorch (Dassl's layout,
:mod:`enprompt.checkpoint_layout`)."""
import os
import os.path as osp

from enprompt.checkpoint_layout import POINTER_FILE, checkpoint_name, saved_epochs

__all__ = ["model_folders", "checkpoint_epochs", "checkpoint_file"]


def model_folders(run_dir):
    """Sorted names of the registered models' folders in ``run_dir`` (those
    holding a ``checkpoint`` pointer or a ``model.pth.tar-N`` file)."""
    if not osp.isdir(run_dir):
        return []
    names = []
    for name in sorted(os.listdir(run_dir)):
        folder = osp.join(run_dir, name)
        if osp.isdir(folder) and (osp.isfile(osp.join(folder, POINTER_FILE))
                                  or saved_epochs(folder)):
            names.append(name)
    return names


def checkpoint_epochs(run_dir):
    """Epochs that every model of ``run_dir`` has a complete checkpoint for, sorted."""
    folders = model_folders(run_dir)
    if not folders:
        return []
    common = set(saved_epochs(osp.join(run_dir, folders[0])))
    for name in folders[1:]:
        common &= set(saved_epochs(osp.join(run_dir, name)))
    return sorted(common)


def checkpoint_file(run_dir, epoch):
    """The file of the first model's checkpoint ``epoch`` (None = best-val) in
    ``run_dir``, or None if it does not exist."""
    folders = model_folders(run_dir)
    if not folders:
        return None
    path = osp.join(run_dir, folders[0], checkpoint_name(epoch))
    return path if osp.isfile(path) else None
