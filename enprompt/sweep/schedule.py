"""Run a planned sweep: submit each job once what it needs has finished, follow it to its end."""
import signal
import time

from .progress import Progress

__all__ = ["run_jobs"]


def _format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def run_jobs(sweep, executor, poll_s=0.5, progress_file=None):
    """Run the sweep's ``run`` jobs on ``executor``; returns the jobs that failed.

    A job whose needed job failed is not submitted; it fails with that reason.
    SIGTERM to the sweep stops it as Ctrl-C does: running local jobs are
    stopped cleanly (their runs resume at the next sweep), Slurm jobs go on.
    """
    jobs = sweep.to_run()
    skipped = sum(1 for job in sweep.jobs if job.action == "skip")
    progress = Progress(jobs, skipped, file=progress_file)
    pending = list(jobs)
    started_at = {}

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while pending or executor.running:
            for job in list(pending):
                failed_needs = [n for n in job.needs if n.state == "failed"]
                if failed_needs:
                    pending.remove(job)
                    job.state, job.error = "failed", f"not run: {failed_needs[0].name} failed"
                    progress.note(f"not run  {job.name} ({job.error})")
            ready = [job for job in pending
                     if all(n.state in ("finished", "skipped") for n in job.needs)]
            for job in executor.submit(ready):
                pending.remove(job)
                job.state = "running"
                started_at[job] = time.time()
            for job, code, error in executor.poll():
                job.seconds = time.time() - started_at.get(job, time.time())
                if code == 0:
                    job.state = "finished"
                    progress.note(f"finished {job.name} in {_format_seconds(job.seconds)}")
                else:
                    job.state, job.error = "failed", error
                    progress.note(f"FAILED   {job.name} ({error}); log: {job.log}")
            progress.refresh()
            if pending or executor.running:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        progress.note("Stopping: the runs that finished are kept; rerun the same sweep to "
                      "run the rest (unfinished runs resume from their last checkpoint).")
        executor.stop()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
    return [job for job in jobs if job.state == "failed"]
