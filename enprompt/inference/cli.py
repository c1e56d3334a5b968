"""What the command lines of ``enprompt.predict`` and ``enprompt.export`` share."""
import os
import sys

__all__ = ["run_reporting_errors"]


def _user_errors():
    from enprompt.clip_loader import CLIPLoadError
    from enprompt.engine.checkpoint import CheckpointError

    # Errors whose message says what is wrong and how to fix it (missing files,
    # bad images or class lists, models that do not fit their CLIP weights).
    return (OSError, ValueError, TypeError, KeyError, CLIPLoadError, CheckpointError)


def run_reporting_errors(command, args):
    """``command(args)``; a user error is one line on stderr and exit status 2.

    ``ENPROMPT_DEBUG=1`` raises it instead (with its traceback).
    """
    try:
        return command(args)
    except _user_errors() as e:
        if os.environ.get("ENPROMPT_DEBUG"):
            raise
        print(f"Error: {e}", file=sys.stderr)
        return 2
