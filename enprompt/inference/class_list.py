"""Class lists given on a command line: ``"a,b,c"`` or a file of names."""
import os.path as osp

__all__ = ["split_class_list", "read_class_list"]


def split_class_list(text):
    """``"tabby cat, golden retriever"`` -> ``["tabby cat", "golden retriever"]``."""
    return [name.strip() for name in text.split(",")]


def read_class_list(path):
    """The class names of a file: one per line, blank lines skipped.

    A line ``folder<TAB>name`` gives ``name``, so an image folder's
    ``classnames.txt`` can be used as it is.

    Raises:
        FileNotFoundError: no such file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'No class names file "{path}"')
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in f]
    return [line.split("\t")[-1].strip() for line in lines if line.strip()]
