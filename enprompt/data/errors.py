"""The one error a reader raises when a dataset folder is not (fully) prepared."""

from enprompt.errors import UserError

__all__ = ["DatasetNotReadyError", "DOCS_FILE"]

# Where the preparation of every dataset is described (section anchors are
# given by each layout in ``catalog.py``).
DOCS_FILE = "docs/DATASETS.md"

# How many example paths a message lists at most.
MAX_EXAMPLES = 5


class DatasetNotReadyError(UserError, FileNotFoundError):
    """A dataset folder lacks something the reader needs.

    The message says what is wrong, the path that was expected, how to fix
    it and which section of ``docs/DATASETS.md`` describes the preparation.
    It subclasses ``FileNotFoundError`` so that existing ``except OSError``
    handlers still catch it.

    Args:
        problem (str): what is wrong, as a sentence.
        path (str): the file or folder that was expected (or that is wrong).
        fix (str): what to do about it.
        dataset (str): reader name, e.g. ``"OxfordPets"``.
        docs (str): link to the documentation section,
            e.g. ``"docs/DATASETS.md#oxford-pets"``.
    """

    def __init__(self, problem, path=None, fix=None, dataset=None, docs=None):
        self.problem = problem
        self.path = path
        self.fix = fix
        self.dataset = dataset
        self.docs = docs or DOCS_FILE
        super().__init__(self._format())

    def _format(self):
        head = f"{self.dataset} is not ready: " if self.dataset else "Dataset not ready: "
        lines = [head + self.problem]
        if self.path:
            lines.append(f"  path: {self.path}")
        if self.fix:
            lines.append(f"  fix:  {self.fix}")
        lines.append(f"  docs: {self.docs}")
        return "\n".join(lines)

    def __str__(self):
        return self._format()

    @classmethod
    def missing_images(cls, missing, total, source, fix, dataset=None, docs=None):
        """Some of the ``total`` images named by ``source`` are not on disk."""
        examples = "\n".join(f"      {p}" for p in missing[:MAX_EXAMPLES])
        more = f"\n      ... and {len(missing) - MAX_EXAMPLES} more" if len(missing) > MAX_EXAMPLES else ""
        problem = (
            f"{len(missing)} of the {total} images named by this file are not on disk, "
            f"for example:\n{examples}{more}"
        )
        return cls(problem, path=source, fix=fix, dataset=dataset, docs=docs)
