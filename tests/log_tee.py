"""Undo train.py's ``setup_logger`` after running ``train.main`` in-process."""
import io
import sys

__all__ = ["undo_log_tee"]


def undo_log_tee():
    """Give stdout back and close the log file that train.py's setup_logger opened.

    Only the file is closed: Dassl's Logger.close() would also close the
    console stream it wraps (here pytest's capture), and so would its __del__,
    hence the throw-away console. Works with the built-in and Dassl's Logger.
    """
    logger = sys.stdout
    if getattr(logger, "console", None) is None:
        return
    sys.stdout = logger.console
    if logger.file is not None:
        logger.file.close()
        logger.file = None
    logger.console = io.StringIO()
