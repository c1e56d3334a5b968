"""The processes of this machine, from ``/proc`` (Linux): who is alive, who is below whom.

A run stops cleanly only when every process it started has stopped: ``bash``
does not pass SIGTERM on to the ``train.py`` it waits for, and torchrun starts
its workers in sessions of their own. The sweep's executors and the tests'
kill helpers use these to signal and wait for a whole tree or process group.

* ``process_table()``: ``{pid: (state, parent pid, process group)}``.
* ``is_alive(pid)``: the process has not exited (a zombie has: an orphan's
  zombie may never be reaped in a container, but it holds no lock).
* ``group_members(pgid)``: the live processes of a process group.
* ``descendants(pid)``: every process below ``pid``.
* ``signal_group(pgid, sig)`` and ``signal_tree(pid, sig)``: send ``sig`` to a
  group, or to a process and everything below it (the deepest first); a
  process that has already ended is no error.

Plain Python; nothing here imports torch.
"""
import os

__all__ = ["process_table", "is_alive", "group_members", "descendants", "signal_group",
           "signal_tree"]


def process_table():
    """``{pid: (state, parent pid, process group)}`` of every process."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        found[int(name)] = (fields[0], int(fields[1]), int(fields[2]))
    return found


def is_alive(pid, table=None):
    """True while ``pid`` has not exited (zombies excluded)."""
    state = (table if table is not None else process_table()).get(pid, ("X",))[0]
    return state not in ("Z", "X")


def group_members(pgid, table=None):
    """The pids of the live processes of process group ``pgid``."""
    table = table if table is not None else process_table()
    return [pid for pid, (_, _, group) in table.items() if group == pgid and is_alive(pid, table)]


def descendants(pid, table=None):
    """The pids of every process below ``pid``, parents before their children."""
    children = {}
    for child, (_, parent, _) in (table if table is not None else process_table()).items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _send(send, target, sig):
    try:
        send(target, sig)
    except ProcessLookupError:  # it has ended already
        pass


def signal_group(pgid, sig):
    """Send ``sig`` to process group ``pgid``."""
    _send(os.killpg, pgid, sig)


def signal_tree(pid, sig):
    """Send ``sig`` to ``pid`` and to every process below it, the deepest first."""
    for target in reversed([pid] + descendants(pid)):
        _send(os.kill, target, sig)
