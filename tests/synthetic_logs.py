"""Write log files shaped like those of train.py, for the result-parser tests.

The lines are those of a Dassl run (``epoch [e/E] ...``, ``Finish training``,
the six-line ``=> result`` block, ``Elapsed``); the numbers are chosen by the
test.
"""
import os
import os.path as osp


def result_block(accuracy, macro_f1=50.0, total=200):
    correct = round(total * accuracy / 100)
    return (
        "=> result\n"
        f"* total: {total:,}\n"
        f"* correct: {correct:,}\n"
        f"* accuracy: {accuracy:.1f}%\n"
        f"* error: {100 - accuracy:.1f}%\n"
        f"* macro_f1: {macro_f1:.1f}%\n"
    )


def train_log(accuracy, end_signal="Finish training", macro_f1=50.0, val_accuracy=None):
    """A finished training log; ``val_accuracy`` adds a val evaluation before the end."""
    text = "Loading trainer: EnPrompt\nNo checkpoint found, train from scratch\n"
    text += "epoch [1/2] batch [1/1] time 0.1 (0.1) loss 1.0 (1.0) lr 1.0000e-05 eta 0:00:01\n"
    if val_accuracy is not None:
        text += "Evaluate on the *val* set\n" + result_block(val_accuracy)
    text += "epoch [2/2] batch [1/1] time 0.1 (0.1) loss 0.9 (0.9) lr 3.5000e-03 eta 0:00:00\n"
    text += f"{end_signal}\nDeploy the last-epoch model\nEvaluate on the *test* set\n"
    text += result_block(accuracy, macro_f1)
    text += "Elapsed: 0:00:02\n"
    return text


def unfinished_train_log():
    """A training log cut off during epoch 2 (killed or crashed)."""
    return (
        "Loading trainer: EnPrompt\n"
        "epoch [1/2] batch [1/1] time 0.1 (0.1) loss 1.0 (1.0) lr 1.0000e-05 eta 0:00:01\n"
        "Checkpoint saved to prompt_learner/model.pth.tar-1\n"
    )


def eval_log(accuracy, macro_f1=50.0):
    """A finished --eval-only log."""
    return (
        "Loading trainer: EnPrompt\n"
        'Loading weights to prompt_learner from "x/model.pth.tar-2" (epoch = 2)\n'
        "Evaluate on the *test* set\n" + result_block(accuracy, macro_f1)
    )


def write(run_dir, text, name="log.txt"):
    """Write ``text`` to ``run_dir/name`` (folders are created); returns the path."""
    os.makedirs(run_dir, exist_ok=True)
    path = osp.join(run_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path
