"""The sweep's live line: finished, running, queued, skipped and failed jobs, time and estimate."""
import shutil
import sys
import time

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """A tqdm bar over the jobs to run, with the counts of each state as its postfix.

    ``note(text)`` prints a line above the bar (a job that ended). Where the
    output is not a terminal (a log file, CI), there is no bar: each note ends
    with the counts instead, so the log stays one line per event.
    """

    def __init__(self, jobs, skipped, file=None):
        self.jobs = jobs
        self.skipped = skipped
        self.start = time.time()
        fp = file or sys.stderr
        self.live = hasattr(fp, "isatty") and fp.isatty()
        columns = shutil.get_terminal_size(fallback=(100, 20)).columns or 100
        self.bar = tqdm(total=len(jobs), unit="job", file=fp, ncols=columns,
                        mininterval=1.0, bar_format="{desc} {n_fmt}/{total_fmt} jobs "
                        "[{elapsed}<{remaining}]{postfix}", desc="sweep", disable=not self.live)
        self.fp = fp
        self.refresh()

    def status(self):
        """``finished 1, running 2, queued 3, skipped 0, failed 0`` and the elapsed time."""
        c = self.counts()
        return (f"finished {c['finished']}, running {c['running']}, queued {c['queued']}, "
                f"skipped {self.skipped}, failed {c['failed']}")

    def counts(self):
        states = [job.state for job in self.jobs]
        return {name: states.count(name) for name in ("finished", "running", "queued", "failed")}

    def refresh(self):
        c = self.counts()
        self.bar.set_postfix_str(self.status(), refresh=False)
        done = c["finished"] + c["failed"]
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)
        else:
            self.bar.refresh()

    def note(self, text):
        if self.live:
            self.bar.write(text, file=self.fp)
        else:
            elapsed = int(time.time() - self.start)
            print(f"{text}  [{elapsed // 60:02d}:{elapsed % 60:02d}; {self.status()}]",
                  file=self.fp, flush=True)

    def close(self):
        self.refresh()
        self.bar.close()
