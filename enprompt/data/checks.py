"""Is a dataset folder prepared? One check used by the readers and ``check``.

``find_problems(layout, root)`` lists what is missing or wrong in
``<root>/<layout.folder>``; each :class:`Problem` names the path, what is
wrong and how to fix it. Readers raise the first problem as a
:class:`~enprompt.data.errors.DatasetNotReadyError` before reading anything
(``raise_if_not_ready``); ``python -m enprompt.data check`` prints them all,
with ``deep=True`` also checking the published split file and the images it
names.

An image folder of your own (:mod:`enprompt.data.image_folder`) is checked by
:func:`image_folder_problems`: its layout, empty classes, ``classnames.txt``,
classes too small to split, a split file made by another rule or for other
classes, classes with fewer training images than the shots asked for, and
(``deep``) images that cannot be decoded.
"""
import os
import os.path as osp
from dataclasses import dataclass

from .datums import missing_files
from .errors import MAX_EXAMPLES, DatasetNotReadyError
from .fewshot import FEWSHOT_DIR
from .image_folder import (
    GIVEN_SPLITS,
    IMAGE_EXTENSIONS,
    SPLIT_FILE,
    ImageFolderLayout,
    SplitRule,
    read_class_names,
    read_split_rule,
    scan_image_folder,
    split_classes,
)
from .splits import min_images_to_split, read_split_records, split_counts

__all__ = [
    "Problem",
    "find_problems",
    "image_folder_problems",
    "raise_if_not_ready",
    "dataset_dir_of",
    "IMAGE_EXTENSIONS",
]


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
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
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


def find_problems(layout, root, deep=False, shots=0):
    """List what ``<root>/<layout.folder>`` lacks (empty list: ready).

    Args:
        layout (DatasetLayout): the dataset.
        root (str): ``DATASET.ROOT``.
        deep (bool): also require the published split file and check that
            every image it names exists; for an image folder, decode every
            image.
        shots (int): for an image folder, report the classes with fewer
            training images than this (0: no such check).
    """
    dataset_dir = dataset_dir_of(layout, root)
    if not osp.isdir(dataset_dir):
        return [Problem(dataset_dir, "dataset folder not found", layout.missing_folder_fix(root))]
    if isinstance(layout, ImageFolderLayout):
        return image_folder_problems(dataset_dir, layout.rule, deep=deep, shots=shots)
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


# ---------------------------------------------------------------------------
# Your own image folder
# ---------------------------------------------------------------------------
def _listed(pairs):
    """``"a (3), b (2), ... (N more)"`` of ``(name, count)`` pairs."""
    shown = ", ".join(f"{name} ({count})" for name, count in pairs[:MAX_EXAMPLES * 2])
    more = len(pairs) - MAX_EXAMPLES * 2
    return shown + (f", ... ({more} more)" if more > 0 else "")


_LAYOUT_HOW = (
    "sort the images into one sub-folder per class, <dir>/<class>/<image> (split here), or "
    "<dir>/train/<class>/<image> and <dir>/test/<class>/<image> (val/ optional), as given"
)


def _image_folder_layout_problems(scan):
    problems = []
    top = scan.dataset_dir
    if scan.given:
        for part in ("train", "test"):
            if part not in scan.parts:
                present = ", ".join(f"{p}/" for p in scan.parts)
                problems.append(Problem(
                    osp.join(top, part), f"folder not found (the folder has {present})",
                    "with train/, val/ or test/ in it the folder is used as split: it needs "
                    "train/ and test/ (val/ is optional). Or put the class folders directly "
                    "in it to have them split",
                ))
        others = sorted(
            name for name in os.listdir(top)
            if osp.isdir(osp.join(top, name)) and not name.startswith(".")
            and name not in GIVEN_SPLITS and name != FEWSHOT_DIR
        )
        if others:
            problems.append(Problem(
                top, f"it has train/, val/ or test/ and also the folder(s) {others[:MAX_EXAMPLES]}, "
                "which would be ignored", "move them into train/, val/ or test/, or out of the folder",
            ))
    for folder, names in scan.loose_images.items():
        problems.append(Problem(
            folder, f"{len(names)} image(s) lie directly in this folder (e.g. "
            f"{', '.join(names[:3])}), where only class folders are read", _LAYOUT_HOW,
        ))
    if not problems and not scan.classes:
        where = osp.join(top, "train") if scan.given else top
        problems.append(Problem(where, "this folder has no class sub-folders", _LAYOUT_HOW))
    if not problems and scan.given:
        known = set(scan.folders)
        for part in ("val", "test"):
            unknown = [c.folder for c in scan.parts.get(part, []) if c.folder not in known]
            if unknown:
                problems.append(Problem(
                    osp.join(top, part), f"class folder(s) {unknown[:MAX_EXAMPLES]} are not in "
                    "train/: the classes (and their labels) are those of train/",
                    "give every class of val/ and test/ a folder of training images in train/",
                ))
    return problems


def _empty_class_problems(scan):
    problems = []
    for classes in scan.parts.values():
        for c in classes:
            if not c.images:
                held = f"; its files {c.other_files[:3]} are not images" if c.other_files else ""
                problems.append(Problem(
                    c.path, f"this class folder holds no images ({', '.join(IMAGE_EXTENSIONS)}){held}",
                    "put the images of the class into it, or remove the folder",
                ))
    return problems


def _split_file_state(scan, rule, classnames, split_path):
    """Problems of an existing split file, and the training images per class it gives."""
    dataset_dir = scan.dataset_dir
    try:
        recorded_rule = read_split_rule(split_path)
        recorded_classes = split_classes(split_path, dataset_dir)
    except (DatasetNotReadyError, ValueError, KeyError, TypeError) as e:
        problem = e.problem if isinstance(e, DatasetNotReadyError) else f"the file is malformed ({e})"
        return [Problem(split_path, problem, f"delete {SPLIT_FILE} and {FEWSHOT_DIR}/ to split again")], {}
    again = (f"delete {SPLIT_FILE} and {FEWSHOT_DIR}/ to split the folder again (the same rule "
             "splits the images it already had the same way)")
    problems = []
    if rule is not None and recorded_rule is not None and recorded_rule != rule:
        problems.append(Problem(
            split_path, f"it was made with {recorded_rule.describe()}, but the config asks for "
            f"{rule.describe()}",
            "set DATASET.IMAGE_FOLDER.SPLIT_SEED, P_TRAIN and P_VAL to the recorded values, or "
            + again,
        ))
    current = [(folder, classnames[folder]) for folder in scan.folders]
    if recorded_classes != current:
        gone = [f"{f} ({n})" for f, n in recorded_classes if (f, n) not in current]
        new = [f"{f} ({n})" for f, n in current if (f, n) not in recorded_classes]
        problems.append(Problem(
            split_path, "the classes changed since the split was made: "
            + "; ".join(part for part in (
                f"in the split only: {gone[:MAX_EXAMPLES]}" if gone else "",
                f"in the folder only: {new[:MAX_EXAMPLES]}" if new else "",
            ) if part) + (". Labels are the positions of the sorted class folders"
                          if not (gone or new) else ""),
            again,
        ))
    records = read_split_records(split_path, dataset_dir)
    paths = [r[0] for key in records for r in records[key]]
    missing = missing_files(paths)
    if missing:
        problems.append(Problem(
            split_path, f"{len(missing)} of the {len(paths)} images it names are not on disk "
            f"(e.g. {', '.join(missing[:3])})", "restore them, or " + again,
        ))
    counts = {}
    for _, label, _ in records["train"]:
        counts[label] = counts.get(label, 0) + 1
    return problems, counts


def _train_counts(scan, rule, classnames):
    """Problems of the split, and ``{label: training images}``."""
    if scan.given:
        return [], {label: len(c.images) for label, c in enumerate(scan.classes)}
    split_path = osp.join(scan.dataset_dir, SPLIT_FILE)
    if osp.isfile(split_path):
        return _split_file_state(scan, rule, classnames, split_path)
    rule = rule or SplitRule()
    needed = min_images_to_split(rule.p_train, rule.p_val)
    small = [(c.folder, len(c.images)) for c in scan.classes if len(c.images) < needed]
    if small:
        return [Problem(
            scan.dataset_dir, f"{len(small)} class(es) have fewer than {needed} images, the "
            f"fewest a {rule.describe()} split can give every part one of: {_listed(small)}",
            "add images to these classes, or split the images yourself into train/, val/ and "
            "test/ folders",
        )], {}
    return [], {label: split_counts(len(c.images), rule.p_train, rule.p_val)[0]
                for label, c in enumerate(scan.classes)}


def _shot_problems(scan, counts, shots):
    few = [(scan.folders[label], n) for label, n in sorted(counts.items()) if n < shots]
    if not few:
        return []
    balance = ", so the classes are not balanced" if len(few) < len(counts) else ""
    return [Problem(
        scan.dataset_dir, f"{len(few)} class(es) have fewer training images than the {shots} "
        f"shots asked for: {_listed(few)}; all of their images are used{balance}",
        f"add training images to these classes, or train with at most "
        f"{min(n for _, n in few)} shots (DATASET.NUM_SHOTS)",
    )]


def _decode_problems(scan):
    from .image_check import is_readable_image  # PIL, only for the deep check

    paths = [p for classes in scan.parts.values() for c in classes for p in c.images]
    bad = [p for p in paths if not is_readable_image(p)]
    if not bad:
        return []
    examples = "\n".join(f"      {p}" for p in bad[:MAX_EXAMPLES])
    return [Problem(
        scan.dataset_dir, f"{len(bad)} of the {len(paths)} images cannot be decoded, for "
        f"example:\n{examples}",
        "replace or delete these files; or set DATALOADER.SKIP_BAD_IMAGES True to skip them "
        "with a warning",
    )]


def image_folder_problems(dataset_dir, rule, deep=False, shots=0):
    """What is wrong with an existing image folder (empty list: ready).

    Args:
        dataset_dir (str): the folder (``DATASET.IMAGE_FOLDER.DIR`` resolved).
        rule (SplitRule or None): how a flat folder is split; a split file
            made by another rule is a problem. None: any recorded rule, the
            default one for a folder not split yet.
        deep (bool): also decode every image.
        shots (int): report the classes with fewer training images than
            this (0: no such check).
    """
    scan = scan_image_folder(dataset_dir)
    problems = _image_folder_layout_problems(scan)
    if problems:
        return problems  # the classes are not known
    try:
        classnames = read_class_names(dataset_dir, scan.folders)
    except DatasetNotReadyError as e:
        problems.append(Problem(e.path, e.problem, e.fix))
    problems.extend(_empty_class_problems(scan))
    if not problems:
        split_problems, counts = _train_counts(scan, rule, classnames)
        problems.extend(split_problems)
        if shots > 0 and counts:
            problems.extend(_shot_problems(scan, counts, shots))
    if deep:
        problems.extend(_decode_problems(scan))
    return problems
