"""Base classes of the dataset readers in ``datasets/``.

A reader subclasses :class:`SplitDataset` (the 11 datasets with train, val and
test splits) or :class:`TestOnlyDataset` (the ImageNet variants) and declares
only its layout (from ``catalog.LAYOUTS``), its class-name fixes and, when it
has no published split file, how to read the raw annotations. Everything the
CoOp-family readers repeat per dataset is done here once:

1. ``<DATASET.ROOT>/<folder>`` is checked (clear error naming what is missing);
2. the split is read from ``split_zhou_<Reader>.json``, or created by
   :meth:`SplitDataset.create_split` and saved there;
3. with ``DATASET.NUM_SHOTS >= 1`` the few-shot samples are drawn or read from
   ``split_fewshot/shot_{K}-seed_{SEED}.json`` (``fewshot.py``);
4. ``DATASET.SUBSAMPLE_CLASSES`` keeps the base or new half (``subsample.py``).

The result equals CoOp's lists for the same files and seed; folder listings
are sorted, which is where a CoOp reader depends on the filesystem.
"""
import os.path as osp

from enprompt.dassl import DatasetBase, mkdir_if_missing

from .checks import raise_if_not_ready
from .datums import make_datums
from .errors import DatasetNotReadyError
from .fewshot import FEWSHOT_DIR, fewshot_sample_path, sample_fewshot
from .image_check import drop_unreadable_images
from .imagenet import class_folder_records, read_classnames
from .splits import list_class_folders, read_and_split_data, read_split, save_split
from .subsample import subsample_classes

__all__ = ["ReaderMixin", "SplitDataset", "TestOnlyDataset"]


def _join(folder, sub):
    return osp.join(folder, sub) if sub else folder


class ReaderMixin:
    """Paths and error helpers shared by both reader base classes.

    Subclasses set ``layout`` (a ``catalog.DatasetLayout``); the class
    attribute ``dataset_dir`` then holds the folder name, as in CoOp, and
    the instance attribute the absolute folder.
    """

    layout = None
    # Named in read_image's error, as the way past an unreadable image (drop_bad_images).
    image_error_hint = "set DATALOADER.SKIP_BAD_IMAGES True to skip unreadable images with a warning"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("layout") is not None:
            cls.dataset_dir = cls.layout.folder

    def _setup_paths(self, cfg):
        if self.layout is None:
            raise TypeError(f"{type(self).__name__} must set the class attribute `layout`")
        self.root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = osp.join(self.root, self.layout.folder)
        self.image_dir = _join(self.dataset_dir, self.layout.image_folder)
        raise_if_not_ready(self.layout, self.root)

    def path(self, *parts):
        """A path inside the dataset folder."""
        return osp.join(self.dataset_dir, *parts)

    def error(self, problem, path=None, fix=None):
        """A ``DatasetNotReadyError`` for this dataset."""
        return DatasetNotReadyError(
            problem, path=path, fix=fix, dataset=self.layout.reader, docs=self.layout.docs
        )

    def read_lines(self, *parts):
        """Stripped, non-empty lines of a text file inside the dataset folder."""
        with open(self.path(*parts), "r") as f:
            return [line.strip() for line in f if line.strip()]

    def drop_bad_images(self, cfg, lists, names):
        """``lists`` without undecodable images when ``DATALOADER.SKIP_BAD_IMAGES``."""
        if not cfg.DATALOADER.get("SKIP_BAD_IMAGES", False):
            return lists
        return drop_unreadable_images(lists, names, dataset=self.layout.reader, docs=self.layout.docs)

    def datums(self, records, source):
        """``Datum`` objects for ``(impath, label, classname)`` records read from
        ``source``, after checking that every image exists."""
        fix = (
            f"{osp.basename(source)} names images that are not on disk: extract the "
            "complete official archive into the layout the docs describe"
        )
        return make_datums(records, source, fix, dataset=self.layout.reader, docs=self.layout.docs)


class SplitDataset(ReaderMixin, DatasetBase):
    """A dataset with train / val / test splits, few-shot sampling and base/new classes.

    Class attributes a reader may set:
        layout: its ``catalog.DatasetLayout``.
        ignored (tuple[str]): class folders to skip (folder-per-class data).
        new_cnames (dict): folder name -> class name (folder-per-class data).

    Instance attributes (absolute paths, as in CoOp): ``dataset_dir``,
    ``image_dir``, ``split_path`` (None without a split file),
    ``split_fewshot_dir``.
    """

    ignored = ()
    new_cnames = None

    def __init__(self, cfg):
        self._setup_paths(cfg)
        layout = self.layout
        self.split_path = self.path(layout.split_file) if layout.split_file else None
        self.split_fewshot_dir = self.path(FEWSHOT_DIR)
        mkdir_if_missing(self.split_fewshot_dir)

        train, val, test = self.read_lists()

        num_shots = cfg.DATASET.NUM_SHOTS
        self.fewshot_path = None  # the few-shot sample file used, if any (run manifests hash it)
        if num_shots >= 1:
            train, val = sample_fewshot(
                self, self.dataset_dir, num_shots, cfg.SEED, train, val,
                dataset=layout.reader, docs=layout.docs, run_dir=cfg.OUTPUT_DIR,
            )
            self.fewshot_path = fewshot_sample_path(
                self.dataset_dir, num_shots, cfg.SEED, cfg.OUTPUT_DIR)

        subsample = cfg.DATASET.get("SUBSAMPLE_CLASSES", "all")
        if val is None:  # the test set doubles as the val set (ImageNet)
            train, test = subsample_classes(train, test, subsample=subsample)
            val = test
        else:
            train, val, test = subsample_classes(train, val, test, subsample=subsample)
        train, val, test = self.drop_bad_images(cfg, [train, val, test], ["train", "val", "test"])

        super().__init__(train_x=train, val=val, test=test)

    @property
    def split_prefix(self):
        """Folder the split file's image paths are relative to."""
        return _join(self.dataset_dir, self.layout.split_prefix)

    def read_lists(self):
        """``(train, val, test)`` lists of ``Datum``; ``val`` None means "use test".

        Reads the split file, or creates the split (``create_split``) and
        saves it when the dataset has a split file name.
        """
        if self.split_path and osp.isfile(self.split_path):
            return read_split(
                self.split_path, self.split_prefix,
                dataset=self.layout.reader, docs=self.layout.docs,
            )
        train, val, test = self.create_split()
        if self.split_path:
            print(
                f"No published split file {self.split_path}: created a new random split "
                "from the current seed. To compare with published results, get the "
                f"published one with `{self.layout.download_command(self.root)}` and "
                "delete split_fewshot/."
            )
            save_split(train, val, test, self.split_path, self.split_prefix)
        return train, val, test

    def create_split(self):
        """Create the split when there is no split file.

        Default: a 50/20/30 split per class of the class folders in
        ``image_dir`` (minus ``ignored``, renamed by ``new_cnames``).
        """
        return read_and_split_data(self.image_dir, ignored=self.ignored, new_cnames=self.new_cnames)


class TestOnlyDataset(ReaderMixin, DatasetBase):
    """A test-only ImageNet variant: ``train_x`` and ``test`` are the same list.

    Labels are the indices of the sorted class folders of ``image_dir`` (files
    such as ``README.txt`` are not class folders); class names come from the
    dataset's copy of ImageNet's ``classnames.txt``. ``NUM_SHOTS`` and
    ``SUBSAMPLE_CLASSES`` do not apply, as in the CoOp family.
    """

    def __init__(self, cfg):
        self._setup_paths(cfg)
        self.classnames_file = self.path("classnames.txt")
        classnames = read_classnames(
            self.classnames_file, dataset=self.layout.reader, docs=self.layout.docs
        )
        data = self.datums(self.read_records(classnames), self.image_dir)
        (data,) = self.drop_bad_images(cfg, [data], ["test"])
        super().__init__(train_x=data, test=data)

    def class_folders(self, classnames):
        """Class folders of ``image_dir`` in label order (default: sorted)."""
        return list_class_folders(self.image_dir)

    def read_records(self, classnames):
        """``(impath, label, classname)`` for every image."""
        return class_folder_records(
            self.image_dir, self.class_folders(classnames), classnames, self.classnames_file,
            dataset=self.layout.reader, docs=self.layout.docs,
        )
