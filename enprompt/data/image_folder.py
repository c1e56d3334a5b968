"""A folder of your own images, read with no code to write (reader ``ImageFolder``).

``DATASET.IMAGE_FOLDER.DIR`` (relative to ``DATASET.ROOT``, or absolute)
names a folder in one of two layouts::

    <dir>/<class>/*.jpg                   "flat": split here once (below)
    <dir>/{train,val,test}/<class>/*.jpg  "given": used as it is (val/ optional)

Only image files count (:data:`IMAGE_EXTENSIONS`, any case); other files,
such as a ``README.txt`` in a class folder, are ignored. Class folders are
sorted and numbered from 0 (in ``train/`` for the given layout). A class's
name is its folder name with ``_`` turned into spaces, or the name given in
an optional ``<dir>/classnames.txt`` (one ``folder<TAB>name`` line per class).

The flat layout is split per class by :class:`SplitRule`: the sorted images
of each class, in the sorted class order, are shuffled by a
``random.Random`` seeded with ``DATASET.IMAGE_FOLDER.SPLIT_SEED`` (its own
seed, not the run's ``SEED``, so every seed of an experiment trains and
tests on the same split), then cut into ``P_TRAIN`` / ``P_VAL`` / rest with
CoOp's rounding (:func:`enprompt.data.splits.split_per_class`). The split is
written once to ``<dir>/split_image_folder.json`` (the split-file format of
the CoOp family, plus the rule that made it) and read from then on. Few-shot
samples are cached in ``<dir>/split_fewshot/`` as for every dataset.

Everything here is plain Python (no torch); :mod:`enprompt.data.checks`
uses it to explain what is wrong with such a folder.
"""
import glob
import os
import os.path as osp
import random
from dataclasses import dataclass
from typing import Optional

from enprompt.fileio import listdir_nohidden, read_json

from .catalog import DatasetLayout
from .datums import make_datum_lists
from .errors import DatasetNotReadyError
from .fewshot import FEWSHOT_DIR
from .splits import SPLIT_KEYS, read_split, read_split_records, save_split, split_per_class

__all__ = [
    "IMAGE_FOLDER_NAME",
    "IMAGE_FOLDER_READER",
    "IMAGE_EXTENSIONS",
    "SPLIT_FILE",
    "CLASSNAMES_FILE",
    "SplitRule",
    "ImageFolderLayout",
    "ClassFolder",
    "FolderScan",
    "image_folder_layout",
    "is_image_file",
    "list_images",
    "scan_image_folder",
    "read_class_names",
    "read_image_folder",
]

# Config basename (configs/datasets/image_folder.yaml) and registered reader name.
IMAGE_FOLDER_NAME = "image_folder"
IMAGE_FOLDER_READER = "ImageFolder"
# The file endings read as images (compared in lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# The split of a flat folder, written beside its class folders.
SPLIT_FILE = "split_image_folder.json"
# Optional class names: one "folder<TAB>name" line per class.
CLASSNAMES_FILE = "classnames.txt"
# Sub-folders that make a folder the given layout.
GIVEN_SPLITS = SPLIT_KEYS  # ("train", "val", "test")
DOCS_ANCHOR = "your-own-image-folder"


@dataclass(frozen=True)
class SplitRule:
    """How a flat folder is split (``DATASET.IMAGE_FOLDER.SPLIT_SEED``, ``P_TRAIN``, ``P_VAL``)."""

    seed: int = 1
    p_train: float = 0.5
    p_val: float = 0.2

    @classmethod
    def from_cfg(cls, cfg):
        node = cfg.DATASET.IMAGE_FOLDER
        return cls(int(node.SPLIT_SEED), float(node.P_TRAIN), float(node.P_VAL))

    def as_dict(self):
        """What the split file records under ``"rule"``."""
        return {"seed": self.seed, "p_train": self.p_train, "p_val": self.p_val}

    def describe(self):
        p_test = 1 - self.p_train - self.p_val
        return (f"{self.p_train:.0%}/{self.p_val:.0%}/{p_test:.0%} train/val/test "
                f"with SPLIT_SEED {self.seed}")


@dataclass(frozen=True)
class ImageFolderLayout(DatasetLayout):
    """The layout of one image folder: ``folder`` is ``DATASET.IMAGE_FOLDER.DIR``
    (relative to the data root or absolute) and ``rule`` its split rule (None:
    the rule its split file records, the default one for a new split)."""

    rule: Optional[SplitRule] = None

    def missing_folder_fix(self, root):
        where = f"under DATASET.ROOT ({root})" if root and not osp.isabs(self.folder) else "there"
        return (
            f"DATASET.IMAGE_FOLDER.DIR = {self.folder!r} names no folder {where}: set it to "
            "your image folder, absolute or relative to --root, holding <class>/<image> or "
            "train/<class>/<image> and test/<class>/<image>"
        )


def image_folder_layout(folder, rule=None):
    """The :class:`ImageFolderLayout` of ``DATASET.IMAGE_FOLDER.DIR = folder``.

    Raises:
        ValueError: ``folder`` is empty.
    """
    if not folder:
        raise ValueError(
            "DATASET.IMAGE_FOLDER.DIR is empty: set it to your image folder, relative to "
            "--root or absolute (e.g. DATASET.IMAGE_FOLDER.DIR my_photos)"
        )
    folder = osp.expanduser(folder)
    return ImageFolderLayout(
        name=IMAGE_FOLDER_NAME,
        reader=IMAGE_FOLDER_READER,
        title=f"The image folder {folder}",
        folder=folder,
        image_folder="",
        needs=(),
        docs_anchor=DOCS_ANCHOR,
        rule=rule,
    )


def is_image_file(name):
    """True if the file name ends with one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder, recursive=False):
    """Sorted paths of the image files in ``folder`` (joined to ``folder``).

    With ``recursive``, those of its sub-folders too (hidden ones skipped),
    each folder's images before its sub-folders', all in sorted order.
    """
    images, subfolders = [], []
    for name in sorted(listdir_nohidden(folder)):
        path = osp.join(folder, name)
        if osp.isdir(path):
            subfolders.append(path)
        elif is_image_file(name) and osp.isfile(path):
            images.append(path)
    if recursive:
        for path in subfolders:
            images.extend(list_images(path, recursive=True))
    return images


@dataclass
class ClassFolder:
    """One class folder: its name, path, images (sorted) and the other files in it."""

    folder: str
    path: str
    images: list
    other_files: list


@dataclass
class FolderScan:
    """What an image folder holds.

    Attributes:
        dataset_dir (str): the folder.
        given (bool): the given layout (``train/``, ``val/``, ``test/``).
        parts (dict): ``{part: [ClassFolder, ...]}`` sorted by folder name;
            the flat layout has the one part ``"all"``, the given layout
            those of ``train``, ``val``, ``test`` that exist.
        loose_images (dict): ``{folder: [file name, ...]}`` of images lying
            where class folders are expected.
    """

    dataset_dir: str
    given: bool
    parts: dict
    loose_images: dict

    @property
    def classes(self):
        """The class folders that define the labels (flat: all; given: ``train/``)."""
        return self.parts.get("train" if self.given else "all", [])

    @property
    def folders(self):
        """Class folder names in label order."""
        return [c.folder for c in self.classes]


def _class_folders(folder, ignored=()):
    classes, loose = [], []
    for name in sorted(listdir_nohidden(folder)):
        path = osp.join(folder, name)
        if osp.isdir(path):
            if name in ignored:
                continue
            images = list_images(path)
            taken = {osp.basename(p) for p in images}
            others = [n for n in sorted(listdir_nohidden(path)) if n not in taken]
            classes.append(ClassFolder(name, path, images, others))
        elif is_image_file(name):
            loose.append(name)
    return classes, loose


def scan_image_folder(dataset_dir):
    """List the classes and images of an existing image folder (:class:`FolderScan`)."""
    given = any(osp.isdir(osp.join(dataset_dir, part)) for part in GIVEN_SPLITS)
    parts, loose = {}, {}
    if given:
        for part in GIVEN_SPLITS:
            path = osp.join(dataset_dir, part)
            if osp.isdir(path):
                parts[part], loose_here = _class_folders(path)
                if loose_here:
                    loose[path] = loose_here
    else:
        parts["all"], loose_here = _class_folders(dataset_dir, ignored=(FEWSHOT_DIR,))
        if loose_here:
            loose[dataset_dir] = loose_here
    return FolderScan(dataset_dir, given, parts, loose)


def read_class_names(dataset_dir, folders, dataset=IMAGE_FOLDER_READER, docs=None):
    """``{folder: class name}`` for the class folders ``folders``.

    From ``<dataset_dir>/classnames.txt`` when it exists (``folder<TAB>name``
    lines, every class folder once), else the folder names with ``_`` turned
    into spaces.

    Raises:
        DatasetNotReadyError: a malformed line, a class folder without a
            line, a line for no class folder, or two classes with one name.
    """
    path = osp.join(dataset_dir, CLASSNAMES_FILE)
    if not osp.isfile(path):
        return {folder: folder.replace("_", " ") for folder in folders}

    def bad(problem, fix):
        return DatasetNotReadyError(problem, path=path, fix=fix, dataset=dataset, docs=docs)

    names = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            folder, tab, name = line.partition("\t")
            if not tab or not folder.strip() or not name.strip():
                raise bad(f"line {number} is {line!r}, expected 'folder<TAB>class name'",
                          "write one line per class folder: its folder name, a tab, its class name")
            names[folder.strip()] = name.strip()
    missing = [folder for folder in folders if folder not in names]
    unknown = sorted(set(names) - set(folders))
    if missing or unknown:
        detail = []
        if missing:
            detail.append(f"no line for the class folder(s) {missing[:5]}")
        if unknown:
            detail.append(f"lines for folders that are not class folders: {unknown[:5]}")
        raise bad("; ".join(detail),
                  "give every class folder exactly one line (check the spelling of the folder names)")
    chosen = [names[folder] for folder in folders]
    doubled = sorted({name for name in chosen if chosen.count(name) > 1})
    if doubled:
        raise bad(f"several class folders get the same name: {doubled[:5]}",
                  "give every class its own name: the text features of equal names are equal")
    return {folder: names[folder] for folder in folders}


# ---------------------------------------------------------------- the lists
def _given_lists(scan, classnames, dataset, docs):
    label = {folder: i for i, folder in enumerate(scan.folders)}
    lists = []
    for part in GIVEN_SPLITS:
        if part not in scan.parts:
            lists.append(None)
            continue
        lists.append([
            (impath, label[c.folder], classnames[c.folder])
            for c in scan.parts[part] for impath in c.images
        ])
    present = [records for records in lists if records is not None]
    fix = "the images were removed while the lists were read; run again"
    datums = iter(make_datum_lists(present, scan.dataset_dir, fix, dataset=dataset, docs=docs))
    return tuple(None if records is None else next(datums) for records in lists)


def _remove_stale_fewshot_caches(dataset_dir):
    stale = sorted(glob.glob(osp.join(dataset_dir, FEWSHOT_DIR, "shot_*-seed_*.*")))
    for path in stale:
        os.remove(path)
    if stale:
        print(f"Removed {len(stale)} few-shot cache file(s) of {osp.join(dataset_dir, FEWSHOT_DIR)}, "
              "drawn from a split that no longer exists")


def _split_now(scan, classnames, rule, split_path):
    groups = [(label, classnames[c.folder], c.images) for label, c in enumerate(scan.classes)]
    print(f"No split file {split_path}: splitting the images of each class "
          f"({rule.describe()}) and saving the split there")
    train, val, test = split_per_class(
        groups, rule.p_train, rule.p_val, source=scan.dataset_dir, rng=random.Random(rule.seed)
    )
    _remove_stale_fewshot_caches(scan.dataset_dir)
    save_split(train, val, test, split_path, scan.dataset_dir, extra={"rule": rule.as_dict()})
    return train, val, test


def _note_new_images(scan, train, val, test, split_path):
    in_split = {item.impath for items in (train, val, test) for item in items}
    new = [p for c in scan.classes for p in c.images if p not in in_split]
    if new:
        print(f"Note: {len(new)} image(s) of {scan.dataset_dir} are not in {split_path} "
              f"(added after the split was made, e.g. {new[0]}) and are not used. Delete "
              f"{SPLIT_FILE} and {FEWSHOT_DIR}/ to split again: the same SPLIT_SEED splits the "
              "images it already had the same way")


def read_split_rule(split_path):
    """The :class:`SplitRule` recorded in a split file, or None (none recorded)."""
    rule = read_json(split_path).get("rule")
    if not isinstance(rule, dict):
        return None
    return SplitRule(int(rule["seed"]), float(rule["p_train"]), float(rule["p_val"]))


def split_classes(split_path, dataset_dir):
    """``[(folder, class name), ...]`` in label order, as a split file records them."""
    records = read_split_records(split_path, dataset_dir)
    by_label = {}
    for key in SPLIT_KEYS:
        for impath, label, classname in records[key]:
            folder = osp.relpath(impath, dataset_dir).split(os.sep)[0]
            by_label.setdefault(label, (folder, classname))
    return [by_label[label] for label in sorted(by_label)]


def read_image_folder(dataset_dir, rule, dataset=IMAGE_FOLDER_READER, docs=None):
    """The ``(train, val, test)`` lists of ``Datum`` of an image folder, and its split file.

    The folder must have passed :func:`enprompt.data.checks.find_problems`
    (the reader checks it first). Given layout: the folders as they are
    (``val`` None without ``val/``; the test images then double as val
    images, as for ImageNet). Flat layout: the split file, created by
    ``rule`` when it does not exist yet.

    Returns:
        ((train, val, test), split file path or None)
    """
    scan = scan_image_folder(dataset_dir)
    classnames = read_class_names(dataset_dir, scan.folders, dataset=dataset, docs=docs)
    if scan.given:
        return _given_lists(scan, classnames, dataset, docs), None
    split_path = osp.join(dataset_dir, SPLIT_FILE)
    if not osp.isfile(split_path):
        return _split_now(scan, classnames, rule, split_path), split_path
    lists = read_split(split_path, dataset_dir, dataset=dataset, docs=docs)
    _note_new_images(scan, *lists, split_path)
    return lists, split_path
