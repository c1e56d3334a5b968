"""The sweep's live line: finished, running, queued, skipped and failed jobs, time and estimate."""
import sys
import time

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """A tqdm bar over the jobs to run, with the counts of each state as its postfix.

    ``note(text)`` prints a line above the bar (a job that ended).
    """

    def __init__(self, jobs, skipped, file=None):
        self.jobs = jobs
        self.skipped = skipped
        self.start = time.time()
        self.bar = tqdm(total=len(jobs), unit="job", file=file or sys.stderr, dynamic_ncols=True,
                        mininterval=1.0, bar_format="{desc} {n_fmt}/{total_fmt} jobs "
                        "[{elapsed}<{remaining}]{postfix}", desc="sweep")
        self.refresh()

    def counts(self):
        states = [job.state for job in self.jobs]
        return {name: states.count(name) for name in ("finished", "running", "queued", "failed")}

    def refresh(self):
        c = self.counts()
        self.bar.set_postfix_str(
            f"finished {c['finished']}, running {c['running']}, queued {c['queued']}, "
            f"skipped {self.skipped}, failed {c['failed']}", refresh=False)
        done = c["finished"] + c["failed"]
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)
        else:
            self.bar.refresh()

    def note(self, text):
        self.bar.write(text, file=self.bar.fp)

    def close(self):
        self.refresh()
        self.bar.close()
