"""``Datum``: one labelled image, as in ``dassl.data.datasets.base_dataset``."""
import os.path as osp

__all__ = ["Datum"]


class Datum:
    """One data instance: image path, class label, domain label, class name.

    Like Dassl's, construction checks that the image exists; unlike Dassl's
    bare ``assert``, a missing file raises ``FileNotFoundError`` naming it.

    Args:
        impath (str): image path.
        label (int): class label.
        domain (int): domain label.
        classname (str): class name.
    """

    def __init__(self, impath="", label=0, domain=0, classname=""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum.impath must be a str, got {type(impath).__name__}")
        if not osp.isfile(impath):
            raise FileNotFoundError(f'No image file at "{impath}"')
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @property
    def impath(self):
        return self._impath

    @property
    def label(self):
        return self._label

    @property
    def domain(self):
        return self._domain

    @property
    def classname(self):
        return self._classname

    def __repr__(self):
        return (
            f"Datum(impath={self._impath!r}, label={self._label}, "
            f"domain={self._domain}, classname={self._classname!r})"
        )

    def __eq__(self, other):
        if not isinstance(other, Datum):
            return NotImplemented
        return (self.impath, self.label, self.domain, self.classname) == (
            other.impath, other.label, other.domain, other.classname
        )

    def __hash__(self):
        return hash((self._impath, self._label, self._domain, self._classname))
