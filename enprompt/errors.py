"""The base of every error a user can fix (standard library only).

A :class:`UserError`'s message says what is wrong, what was expected and
how to fix it. Command lines (``train.py``, ``python -m enprompt.*``) print
it as one line, ``Error: <message>``, instead of a traceback; set
``ENPROMPT_DEBUG=1`` to see the traceback too. The errors of the loader,
the checkpoints, the datasets and the run folder all derive from it, next
to the built-in exception they also are (``RuntimeError``,
``FileNotFoundError``, ...), so existing ``except`` clauses still catch them.
"""

__all__ = ["UserError"]


class UserError(Exception):
    """An error whose message says what is wrong and how to fix it."""
