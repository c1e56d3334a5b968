"""Is a dataset folder prepared? One check used by the readers and ``check``.

``find_problems(layout, root)`` lists what is missing or wrong in
``<root>/<layout.folder>``; each :class:`Problem` names the path, what is
wrong and how to fix it. Readers raise the first problem as a
:class:`~enprompt.data.errors.DatasetNotReadyError` before reading anything
(``raise_if_not_ready``); ``python -m enprompt.data check`` prints them all,
with ``deep=True`` also checking the published split file and the images it
names.
"""
import os
import os.path as osp
from dataclasses import dataclass

from .errors import DatasetNotReadyError
from .image_files import IMAGE_EXTENSIONS, is_image_file

__all__ = ["Problem", "find_problems", "raise_if_not_ready", "dataset_dir_of", "IMAGE_EXTENSIONS"]


@dataclass
class Problem:
    """Something a dataset folder lacks.

    Attributes:
        path (str): the file or folder concerned.
        problem (str): what is wrong.
        fix (str): how to fix it.
    """

    path: str
    problem: str
    fix: str

    def to_error(self, layout):
        return DatasetNotReadyError(
            self.problem, path=self.path, fix=self.fix, dataset=layout.reader, docs=layout.docs
        )


def dataset_dir_of(layout, root):
    """``<root>/<layout.folder>`` with ``~`` expanded, absolute."""
    return osp.join(osp.abspath(osp.expanduser(root)), layout.folder)


def _class_dir_problems(path, how):
    n_dirs = n_loose = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                n_dirs += 1
            elif is_image_file(entry.name):
                n_loose += 1
    if n_loose:
        return [Problem(
            path,
            f"{n_loose} images lie directly in this folder, but the images must be sorted "
            f"into one sub-folder per class ({n_dirs} class folders found)",
            how,
        )]
    if not n_dirs:
        return [Problem(path, "this folder has no class sub-folders", how)]
    return []


def _need_problems(dataset_dir, need, split_name, root):
    path = osp.join(dataset_dir, need.path)
    fix = need.how.replace("$DATA", root)
    if need.only_without_split:
        fix = (
            f"{need.how}; it is read only to create {split_name}, so downloading the "
            "published split file (download-splits) also works"
        )
    if need.kind == "file":
        if not osp.isfile(path):
            return [Problem(path, "file not found", fix)]
        return []
    if not osp.isdir(path):
        return [Problem(path, "folder not found", fix)]
    if need.kind == "class_dirs":
        return _class_dir_problems(path, fix)
    return []


def _same_class_folder_problems(dataset_dir, folders):
    listings = {}
    for folder in folders:
        path = osp.join(dataset_dir, folder)
        listings[folder] = {
            e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith(".")
        }
    first = folders[0]
    problems = []
    for folder in folders[1:]:
        only_first = sorted(listings[first] - listings[folder])
        only_other = sorted(listings[folder] - listings[first])
        if only_first or only_other:
            detail = []
            if only_first:
                detail.append(f"{len(only_first)} missing here (e.g. {', '.join(only_first[:3])})")
            if only_other:
                detail.append(f"{len(only_other)} not in {first} (e.g. {', '.join(only_other[:3])})")
            problems.append(Problem(
                osp.join(dataset_dir, folder),
                f"the class folders differ from those of {first}: " + "; ".join(detail)
                + ". Labels are the index in the sorted folder list, so both must match",
                f"sort every image of {folder} into the class folders of {first}",
            ))
    return problems


def _split_file_problems(layout, dataset_dir, split_path):
    # imported here: only the deep check reads the split file
    from .datums import missing_files
    from .splits import read_split_records

    prefix = osp.join(dataset_dir, layout.split_prefix)
    try:
        records = read_split_records(split_path, prefix, dataset=layout.reader, docs=layout.docs)
    except DatasetNotReadyError as e:
        return [Problem(split_path, e.problem, e.fix)]
    paths = [r[0] for key in records for r in records[key]]
    missing = missing_files(paths)
    if missing:
        examples = ", ".join(missing[:3])
        return [Problem(
            split_path,
            f"{len(missing)} of the {len(paths)} images it names are not on disk (e.g. {examples})",
            f"extract the official images so that the paths are relative to {prefix}",
        )]
    return []


def find_problems(layout, root, deep=False):
    """List what ``<root>/<layout.folder>`` lacks (empty list: ready).

    Args:
        layout (DatasetLayout): the dataset.
        root (str): ``DATASET.ROOT``.
        deep (bool): also require the published split file and check that
            every image it names exists.
    """
    dataset_dir = dataset_dir_of(layout, root)
    if not osp.isdir(dataset_dir):
        fix = (
            f"prepare {layout.title} in this folder as the docs describe; DATASET.ROOT "
            f"(--root) must be the folder that contains {layout.folder}/"
        )
        if not root:
            fix = f"DATASET.ROOT is empty: pass the data root with --root. Then {fix}"
        return [Problem(dataset_dir, "dataset folder not found", fix)]
    split_path = osp.join(dataset_dir, layout.split_file) if layout.split_file else ""
    has_split = bool(split_path) and osp.isfile(split_path)
    problems = []
    for need in layout.needs:
        if need.only_without_split and has_split:
            continue
        problems.extend(_need_problems(dataset_dir, need, layout.split_file, root))
    if not problems and layout.same_class_folders:
        problems.extend(_same_class_folder_problems(dataset_dir, layout.same_class_folders))
    if deep and split_path:
        if not has_split:
            problems.append(Problem(
                split_path,
                "the published split file is missing; without it the reader creates a new "
                "random split, and results are not comparable with published numbers",
                f"run `{layout.download_command(root)}`",
            ))
        elif not problems:
            problems.extend(_split_file_problems(layout, dataset_dir, split_path))
    return problems


def raise_if_not_ready(layout, root):
    """Raise ``DatasetNotReadyError`` for the first problem of ``find_problems``."""
    problems = find_problems(layout, root)
    if problems:
        raise problems[0].to_error(layout)
