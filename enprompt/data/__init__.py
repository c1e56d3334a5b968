"""Dataset preparation and the logic shared by the dataset readers.

The readers themselves live in the repository's ``datasets/`` folder (CoOp
layout); this package holds what they share, written once:

* ``catalog``: folder names, files and download ids of the 15 datasets;
* ``image_folder``: a folder of your own images (reader ``ImageFolder``);
* ``splits``: split files (``split_zhou_*.json``) and random splits;
* ``fewshot``: few-shot sampling with a JSON cache (reads CoOp ``.pkl`` caches
  through ``legacy_pickle``'s restricted unpickler);
* ``subsample``: base/new classes;
* ``checks`` and ``errors``: is a dataset folder ready, and what is missing;
* ``base``: the reader base classes;
* ``image_check``: dropping undecodable images (``DATALOADER.SKIP_BAD_IMAGES``);
* ``download``: fetching the published split files and other small files.

Command line: ``python -m enprompt.data {download-splits,check} ...`` (see
``docs/DATASETS.md``).

Names are imported lazily, so that the command line does not load PyTorch.
"""
from enprompt.lazy import lazy_exports

_EXPORTS = {
    "DatasetNotReadyError": "errors",
    "DriveFile": "catalog",
    "Need": "catalog",
    "DatasetLayout": "catalog",
    "LAYOUTS": "catalog",
    "layout_of_reader": "catalog",
    "Problem": "checks",
    "find_problems": "checks",
    "raise_if_not_ready": "checks",
    "make_datums": "datums",
    "make_datum_lists": "datums",
    "read_split": "splits",
    "read_split_records": "splits",
    "save_split": "splits",
    "relative_path": "splits",
    "datum_records": "splits",
    "split_trainval": "splits",
    "split_per_class": "splits",
    "read_and_split_data": "splits",
    "list_class_folders": "splits",
    "FewShotWarning": "fewshot",
    "fewshot_cache_path": "fewshot",
    "sample_fewshot": "fewshot",
    "reroot_path": "fewshot",
    "LegacyPickleError": "legacy_pickle",
    "load_legacy_datums": "legacy_pickle",
    "subsample_classes": "subsample",
    "read_classnames": "imagenet",
    "class_folder_records": "imagenet",
    "write_image_lists": "imagenet",
    "BadImageWarning": "image_check",
    "drop_unreadable_images": "image_check",
    "IMAGE_FOLDER_NAME": "image_folder",
    "IMAGE_FOLDER_READER": "image_folder",
    "ImageFolderLayout": "image_folder",
    "SplitRule": "image_folder",
    "image_folder_layout": "image_folder",
    "is_image_file": "image_folder",
    "list_images": "image_folder",
    "read_class_names": "image_folder",
    "read_image_folder": "image_folder",
    "scan_image_folder": "image_folder",
    "image_folder_problems": "checks",
    "split_counts": "splits",
    "SplitDataset": "base",
    "TestOnlyDataset": "base",
    "download_splits": "download",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
