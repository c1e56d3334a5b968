"""Reading train.py's output in tests, with patterns of their own.

The tests do not read logs through ``enprompt.logparse``: that is one of the
things they check.

* ``RESULT_BLOCK``: the evaluator's result, exactly as Dassl prints it::

      => result
      * total: 1,234
      * correct: 1,000
      * accuracy: 81.0%
      * error: 19.0%
      * macro_f1: 80.2%

  (named groups ``total``, ``correct``, ``accuracy``, ``error``, ``macro_f1``).
* ``result_blocks(text, after=None)``: every such block, in order, as a dict:
  ``total`` and ``correct`` (int), ``accuracy``, ``error`` and ``macro_f1``
  (float, percent) and ``text`` (the block's lines). ``after``: only the
  blocks right after that line, e.g. ``"Evaluate on the *val* set"``.
* ``final_result(text)``: the last block; fails the test, showing the end of
  ``text``, where there is none.
* ``epoch_losses(text)``: the running average loss at the last
  ``epoch [e/E] batch [b/B] ... loss x (average)`` line of each epoch, in
  epoch order.
* ``resume_advice(done)``: the end of the one-line interrupt notice of a run
  with ``done`` epochs saved, e.g. ``"resume from epoch 3 (epochs 1-2 are
  saved)."`` (``"(epoch 1 is saved)."`` for one).
"""
import re

__all__ = ["RESULT_BLOCK", "result_blocks", "final_result", "epoch_losses", "resume_advice"]

RESULT_BLOCK = re.compile(
    r"=> result\n"
    r"\* total: (?P<total>\d[\d,]*)\n"
    r"\* correct: (?P<correct>\d[\d,]*)\n"
    r"\* accuracy: (?P<accuracy>\d+\.\d)%\n"
    r"\* error: (?P<error>\d+\.\d)%\n"
    r"\* macro_f1: (?P<macro_f1>\d+\.\d)%"
)
_EPOCH_LINE = re.compile(r"epoch \[(\d+)/\d+\] batch \[\d+/\d+\] .*? loss [\d.]+ \(([\d.]+)\)")


def _as_dict(match):
    block = {key: int(match[key].replace(",", "")) for key in ("total", "correct")}
    block.update({key: float(match[key]) for key in ("accuracy", "error", "macro_f1")})
    block["text"] = match.group(0)[match.group(0).index("=> result"):]
    return block


def result_blocks(text, after=None):
    """The result blocks of ``text`` in order (see the module docstring)."""
    pattern = RESULT_BLOCK if after is None else re.compile(re.escape(after) + "\n" + RESULT_BLOCK.pattern)
    return [_as_dict(match) for match in pattern.finditer(text)]


def final_result(text):
    """The last result block of ``text``; the test fails where there is none."""
    blocks = result_blocks(text)
    assert blocks, f"no result block in:\n{text[-2000:]}"
    return blocks[-1]


def epoch_losses(text):
    """Average loss of each epoch, from the last log line of every epoch."""
    per_epoch = {}
    for match in _EPOCH_LINE.finditer(text):
        per_epoch[int(match.group(1))] = float(match.group(2))
    return [per_epoch[e] for e in sorted(per_epoch)]


def resume_advice(done):
    """The end of the interrupt notice of a run with ``done`` (>= 1) epochs saved."""
    saved = "epoch 1 is saved" if done == 1 else f"epochs 1-{done} are saved"
    return f"rerun the same command to resume from epoch {done + 1} ({saved})."
