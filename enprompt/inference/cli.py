"""What the command lines of ``enprompt.predict`` and ``enprompt.export`` share."""
import os
import sys

from enprompt.errors import UserError

__all__ = ["run_reporting_errors"]


# Errors whose message says what is wrong and how to fix it (missing files,
# bad images or class lists, models that do not fit their CLIP weights),
# as train.py reports them.
USER_ERRORS = (UserError, OSError, ValueError, TypeError)


def run_reporting_errors(command, args):
    """``command(args)``; a user error is one line on stderr and exit status 2.

    ``ENPROMPT_DEBUG=1`` raises it instead (with its traceback).
    """
    try:
        return command(args)
    except USER_ERRORS as e:
        if os.environ.get("ENPROMPT_DEBUG"):
            raise
        print(f"Error: {e}", file=sys.stderr)
        return 2
