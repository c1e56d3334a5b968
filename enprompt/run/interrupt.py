"""Ctrl-C and SIGTERM as one clean stop: a short notice instead of a traceback.

Inside :func:`stop_on_signals`, SIGINT and SIGTERM raise
:class:`RunInterrupted` in the main thread (SIGINT's usual
``KeyboardInterrupt`` included). ``train.py`` catches it, writes one line
(epoch and batch reached, and how to resume) to the console and the run's
log, marks the manifest ``interrupted`` and exits with ``128 + signal``
(130 for SIGINT, 143 for SIGTERM), the shell's convention. Slurm sends
SIGTERM before it kills a job that is preempted or over its time limit, so
such a job stops the same way.

Checkpoints and the manifest are written atomically, so an interruption in
the middle of a write leaves the previous complete file.
"""
import contextlib
import signal

__all__ = ["RunInterrupted", "stop_on_signals", "progress_notice"]


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal. ``signum``: the signal; ``exit_code``: 128 + signum."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + int(signum)


def _raise(signum, frame):
    raise RunInterrupted(signum)


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Raise :class:`RunInterrupted` on ``signals`` while the block runs (main thread only)."""
    previous = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, _raise)
    except ValueError:  # not the main thread: leave the handlers alone
        previous = {}
    try:
        yield
    except KeyboardInterrupt as e:
        if isinstance(e, RunInterrupted):
            raise
        raise RunInterrupted(signal.SIGINT) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def progress_notice(interrupt, trainer=None, epochs_saved=0):
    """The one line printed when a run is interrupted.

    Args:
        interrupt (RunInterrupted): what stopped the run.
        trainer: the trainer, if it was built (its ``epoch``, ``max_epoch``,
            ``batch_idx`` and ``num_batches`` say how far it got).
        epochs_saved (int): epochs whose checkpoint is complete on disk.
    """
    where = "before training started"
    if trainer is not None and getattr(trainer, "max_epoch", None):
        epoch = getattr(trainer, "epoch", 0) + 1
        where = f"at epoch {epoch}/{trainer.max_epoch}"
        if getattr(trainer, "num_batches", None) and hasattr(trainer, "batch_idx"):
            where += f", batch {trainer.batch_idx + 1}/{trainer.num_batches}"
    if epochs_saved:
        saved = "epoch 1 is saved" if epochs_saved == 1 else f"epochs 1-{epochs_saved} are saved"
        resume = f"rerun the same command to resume from epoch {epochs_saved + 1} ({saved})"
    else:
        resume = "rerun the same command to start it again (no epoch was saved yet)"
    return f"Interrupted by {interrupt.signal_name} {where}: {resume}."
