"""Dassl's ``DatasetWrapper`` with the project's error for an unreadable image.

Used only with the real Dassl (``enprompt.dassl.TrainerX.build_data_loader``
passes it as Dassl's ``DataManager(dataset_wrapper=...)``). Dassl reads an
image with a bare ``Image.open(path).convert("RGB")``, so a damaged file
stops a run with PIL's message alone (e.g. ``Truncated File Read``), without
its name. Here the same failure raises
:class:`~enprompt.data.image_files.ImageReadError`, which names the file and
the fix, as the built-in engine's ``read_image`` does, and stays the first
line when a ``DataLoader`` worker raised it. Defined at module level, so that
workers started by ``spawn`` can unpickle it.
"""
from dassl.data.data_manager import DatasetWrapper as _DasslDatasetWrapper

from enprompt.data.image_files import decode_errors, image_read_error

__all__ = ["DatasetWrapper"]


class DatasetWrapper(_DasslDatasetWrapper):
    """Dassl's wrapper; an image that cannot be read raises ``ImageReadError``."""

    image_error_hint = ""  # the reader's way past a bad image, set from the dataset

    def __getitem__(self, idx):
        try:
            return super().__getitem__(idx)
        except decode_errors() as e:
            raise image_read_error(self.data_source[idx].impath, e, self.image_error_hint) from e
