"""Fetching the small files the CoOp authors published on Google Drive.

``download_splits`` fetches, per dataset, the files listed in its layout
(``catalog.py``): the published split file, ImageNet's ``classnames.txt``
(also placed in the ImageNet-variant folders), Flowers' ``cat_to_name.json``
and UCF101's middle frames (a zip archive, extracted and then removed).
Each file is downloaded with ``gdown`` under a temporary name in the target
folder and renamed when complete, so an interrupted download never leaves a
file that looks finished. Files already present are skipped; a file already
downloaded for another dataset (``classnames.txt``) is copied, not fetched
again.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
import zipfile

from enprompt.errors import UserError
from enprompt.fileio import atomic_write

from .catalog import IMAGENET_VARIANTS, LAYOUTS
from .checks import dataset_dir_of

__all__ = ["DownloadError", "download_drive_file", "extract_zip", "download_splits"]


class DownloadError(UserError, RuntimeError):
    """A download or an extraction failed; the message gives the manual fallback."""


def download_drive_file(drive_file, dest, quiet=False):
    """Download ``drive_file`` (a ``catalog.DriveFile``) to ``dest`` atomically.

    gdown writes into a temporary file next to ``dest``, which replaces
    ``dest`` only when the download is complete and valid.

    Raises:
        DownloadError: gdown failed, or a ``.json`` file is not valid JSON
            (Google Drive answers with an HTML page when a file's quota is
            exceeded). The message gives the URL for a manual download.
    """
    import gdown  # only needed here

    manual = f"download {drive_file.url} in a browser and save it as {dest}"
    writer = atomic_write(dest, "w+b")
    with writer as f:
        try:
            result = gdown.download(id=drive_file.file_id, output=f, quiet=quiet)
        except Exception as e:  # gdown raises its own types, which vary by version
            raise DownloadError(f"downloading {drive_file.filename} failed ({e}); {manual}") from e
        if result is None or f.tell() == 0:
            raise DownloadError(f"downloading {drive_file.filename} failed; {manual}")
        if dest.endswith(".json"):
            f.seek(0)
            try:
                json.loads(f.read().decode("utf-8"))
            except ValueError as e:
                raise DownloadError(
                    f"the downloaded {drive_file.filename} is not valid JSON (Google Drive may "
                    f"have answered with an error page); {manual}"
                ) from e


def extract_zip(archive, dataset_dir, folder):
    """Extract ``archive`` into ``dataset_dir``, where it must create ``folder``.

    Extraction goes to a temporary folder first, and ``folder`` is moved into
    place when complete. Members with absolute paths or ``..`` are refused.
    """
    tmp_dir = tempfile.mkdtemp(prefix=f".{folder}.", suffix=".extracting", dir=dataset_dir)
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                parts = member.replace("\\", "/").split("/")
                if member.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                    raise DownloadError(f"refusing to extract {archive}: unsafe member {member!r}")
            zf.extractall(tmp_dir)
        extracted = osp.join(tmp_dir, folder)
        if not osp.isdir(extracted):
            raise DownloadError(
                f"{archive} does not contain the folder {folder}/; delete it and download again"
            )
        os.replace(extracted, osp.join(dataset_dir, folder))
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{archive} is not a valid zip file ({e}); delete it and download again") from e
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _copy_atomically(src, dest):
    with open(src, "rb") as fsrc, atomic_write(dest, "wb") as fdst:
        shutil.copyfileobj(fsrc, fdst)


def _same_file_elsewhere(drive_file, root):
    """An existing copy of ``drive_file`` in the folder of any dataset, or None."""
    for layout in LAYOUTS.values():
        for other in layout.downloads:
            if other.file_id == drive_file.file_id and not other.extracts_to:
                path = osp.join(dataset_dir_of(layout, root), other.filename)
                if osp.isfile(path):
                    return path
    return None


def download_splits(names, root, quiet=False, log=print):
    """Fetch the published files of the datasets ``names`` into ``root``.

    Args:
        names (list[str]): config basenames (``oxford_pets``, ...).
        root (str): the data root (``DATASET.ROOT``); dataset folders are
            created when missing.
        quiet (bool): silence gdown's progress bar.
        log (callable): receives one line per file.

    Returns:
        dict: ``{"downloaded": [...], "copied": [...], "skipped": [...]}``
        (destination paths).

    Raises:
        KeyError: an unknown dataset name.
        DownloadError: a download or extraction failed.
    """
    unknown = [n for n in names if n not in LAYOUTS]
    if unknown:
        raise KeyError(f"unknown dataset(s) {unknown}; choose from {sorted(LAYOUTS)}")
    summary = {"downloaded": [], "copied": [], "skipped": []}
    for name in names:
        layout = LAYOUTS[name]
        dataset_dir = dataset_dir_of(layout, root)
        if not layout.downloads:
            log(f"{name}: nothing is published on Google Drive for this dataset "
                f"(see {layout.docs})")
            continue
        for drive_file in layout.downloads:
            dest = osp.join(dataset_dir, drive_file.filename)
            if osp.exists(osp.join(dataset_dir, drive_file.target)):
                log(f"{name}: {drive_file.target} already present, skipped")
                summary["skipped"].append(dest)
                continue
            os.makedirs(dataset_dir, exist_ok=True)
            source = _same_file_elsewhere(drive_file, root)
            if drive_file.extracts_to and osp.isfile(dest):
                log(f"{name}: {drive_file.filename} already downloaded")
            elif source:
                _copy_atomically(source, dest)
                log(f"{name}: copied {source} to {dest}")
                summary["copied"].append(dest)
            else:
                log(f"{name}: downloading {drive_file.filename} from {drive_file.url}")
                download_drive_file(drive_file, dest, quiet=quiet)
                summary["downloaded"].append(dest)
            if drive_file.extracts_to:
                log(f"{name}: extracting {dest}")
                extract_zip(dest, dataset_dir, drive_file.extracts_to)
                os.remove(dest)
        if name == "imagenet":
            _share_imagenet_classnames(root, log, summary)
    return summary


def _share_imagenet_classnames(root, log, summary):
    """Copy imagenet/classnames.txt into the ImageNet-variant folders that exist."""
    source = osp.join(dataset_dir_of(LAYOUTS["imagenet"], root), "classnames.txt")
    for name in IMAGENET_VARIANTS:
        dataset_dir = dataset_dir_of(LAYOUTS[name], root)
        dest = osp.join(dataset_dir, "classnames.txt")
        if osp.isdir(dataset_dir) and not osp.exists(dest):
            _copy_atomically(source, dest)
            log(f"{name}: copied {source} to {dest}")
            summary["copied"].append(dest)
