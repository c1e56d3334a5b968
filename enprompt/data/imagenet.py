"""ImageNet-style data: ``classnames.txt`` and folders of WordNet-id class folders."""
import json
import os.path as osp
from collections import OrderedDict

from enprompt.fileio import atomic_write, listdir_nohidden

from .errors import DatasetNotReadyError
from .image_files import is_image_file
from .splits import datum_records

__all__ = ["read_classnames", "class_folder_records", "write_image_lists"]


def read_classnames(text_file, dataset=None, docs=None):
    """Read ImageNet's ``classnames.txt`` (CoOp's ``ImageNet.read_classnames``).

    Each line is ``<folder> <class name words...>``, split on single spaces:
    the first token is the folder (WordNet id), the rest joined by spaces is
    the class name.

    Returns:
        OrderedDict: ``{folder: classname}`` in file order.
    """
    classnames = OrderedDict()
    with open(text_file, "r") as f:
        for line in f:
            tokens = line.strip().split(" ")
            if not tokens[0]:
                continue  # blank line
            classnames[tokens[0]] = " ".join(tokens[1:])
    if not classnames:
        raise DatasetNotReadyError(
            "classnames.txt is empty", path=text_file,
            fix="replace it with ImageNet's classnames.txt (1000 lines '<wnid> <class name>')",
            dataset=dataset, docs=docs,
        )
    return classnames


def class_folder_records(image_dir, folders, classnames, classnames_file, dataset=None, docs=None):
    """``(impath, label, classname)`` for every image of the given class folders.

    The label of a folder is its index in ``folders``; its class name is
    looked up in ``classnames``. Images (``image_files.is_image_file``) are
    listed in sorted order; other files are not items.

    Raises:
        DatasetNotReadyError: a folder is missing or not in ``classnames``.
    """
    records = []
    for label, folder in enumerate(folders):
        if folder not in classnames:
            raise DatasetNotReadyError(
                f'the class folder "{folder}" has no line in {classnames_file}',
                path=osp.join(image_dir, folder),
                fix="use ImageNet's classnames.txt (1000 lines '<wnid> <class name>', "
                    "from download-splits), and keep only class folders in this folder",
                dataset=dataset, docs=docs,
            )
        class_dir = osp.join(image_dir, folder)
        if not osp.isdir(class_dir):
            raise DatasetNotReadyError(
                "class folder not found", path=class_dir,
                fix="extract the complete archive (one folder per class)",
                dataset=dataset, docs=docs,
            )
        classname = classnames[folder]
        records.extend(
            (osp.join(class_dir, name), label, classname)
            for name in sorted(listdir_nohidden(class_dir)) if is_image_file(name)
        )
    return records


def write_image_lists(lists, path, base_dir):
    """Write ``{key: [Datum, ...]}`` as compact JSON, atomically.

    The format of the split files (paths inside ``base_dir`` relative to it),
    without indentation: ImageNet's lists hold 1.3M entries.
    """
    data = {key: datum_records(items, base_dir) for key, items in lists.items()}
    with atomic_write(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
