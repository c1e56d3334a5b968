"""Seeded regression pin of the whole tiny base-to-novel pipeline.

One run with fixed inputs, through train.py's own config path and
``build_trainer`` (in-process): a fake Describable Textures tree (6 classes x
10 images, one colour per class), the tiny random CLIP (seed 0), the real
base-to-novel config in fp32 with 4 shots and ``--seed 1``, 5 epochs on the 3
base classes (15 iterations), then the last checkpoint tested on the 3 new
classes. Its per-iteration losses and its base and new accuracy are the
numbers in ``EXPECTED``, recorded from the code of the time. Any change of
behaviour moves them: data split, few-shot samples, augmentation, text
features, EnLa, visual prompts, strengthening, the OT loss, the optimiser, the
schedule, the random stream, the evaluation.

Both engines give these numbers: the built-in one, and the real Dassl
(``PYTHONPATH=$PWD:/path/to/Dassl.pytorch``), which draw the same samples and
the same random stream for the same seed.

Tolerances, chosen to survive another x86 CPU and nothing else:

* losses: relative 1e-4. They are float32 values whose only
  machine-dependent part is the rounding of float sums: kernels of other
  vector widths sum in another order. Measured against the values below
  (recorded with AVX-512 kernels): AVX2 kernels move the 15 losses by at
  most 3e-7 relative, the scalar kernels (``ATEN_CPU_CAPABILITY=default
  DNNL_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2``) by at most 1e-5,
  two threads not at all. A real change of behaviour moves them by far more
  than 1e-4.
* accuracies: exact (9 test images each). Every test prediction wins by at
  least 0.39 logit on the base classes and 0.025 logit on the new ones;
  logits are bounded by CLIP's logit scale (14.3 for the tiny model), so a
  1e-5 relative drift moves them by less than 2e-4.

The images are written under a relative path (``data/...``): the fake data
derives each image's colour jitter from its path, so the files are the same
wherever the test runs.

When a change is meant to alter training or evaluation, run::

    python -m pytest -m regression tests/test_regression_pin.py

read the new values printed in the failure message (as a Python literal),
paste them over ``EXPECTED`` and say in the commit message why they changed.
"""
import os.path as osp
import pprint

import pytest

from enprompt.dassl import ENGINE
from enprompt.tiny_clip import save_random_clip
from tests.fake_data import make_dtd
from tests.train_py import dtd_trainer
from tests.trainer_tools import record_results

pytestmark = [pytest.mark.regression, pytest.mark.usefixtures("torch_single_thread")]

EPOCHS = 5
LOSS_RTOL = 1e-4

EXPECTED = {
    "loss": [
        1.417446494102478, 3.0103437900543213, 2.7168984413146973, 3.048858642578125,
        1.4635827541351318, 2.2657663822174072, 1.6593024730682373, 1.7807637453079224,
        1.5416662693023682, 1.3364219665527344, 1.2969355583190918, 1.74977707862854,
        1.2830533981323242, 1.2531293630599976, 1.4569954872131348,
    ],
    "loss_ce": [
        0.5434171557426453, 2.036792516708374, 1.7659807205200195, 2.0891191959381104,
        0.589820384979248, 1.3229897022247314, 0.7904231548309326, 0.9041718244552612,
        0.7024247646331787, 0.544471025466919, 0.5237520933151245, 0.9152756929397583,
        0.5133630037307739, 0.4890094995498657, 0.6866862773895264,
    ],
    "base_accuracy": 100.0,
    "new_accuracy": 33.333333333333336,
}


def _trainer(root, clip_path, output_dir, subsample):
    """train.py's sequence without the log file (parse, merge, seed, build), on the pinned settings."""
    return dtd_trainer(root, clip_path, output_dir, "DATASET.SUBSAMPLE_CLASSES", subsample,
                       "TRAINER.ENPROMPT.PREC", "fp32", "OPTIM.MAX_EPOCH", EPOCHS)


def run_pinned_pipeline(workdir):
    """The pinned run in ``workdir`` (the current directory is changed meanwhile)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        make_dtd("data", n_classes=6, n_per_class=10, class_dependent=True)
    root = osp.join(workdir, "data")
    clip_path = save_random_clip(osp.join(workdir, "tiny-ViT.pt"), arch="tiny", seed=0)
    out = osp.join(workdir, "base")

    trainer = _trainer(root, clip_path, out, "base")
    steps = record_results(trainer, "forward_backward")
    tests = record_results(trainer, "test")
    trainer.train()

    new = _trainer(root, clip_path, osp.join(workdir, "new"), "new")
    new.load_model(out, epoch=EPOCHS)
    return {
        "loss": [s["loss"] for s in steps],
        "loss_ce": [s["loss_ce"] for s in steps],
        "base_accuracy": tests[-1],
        "new_accuracy": new.test(),
    }


def _matches(got):
    same_losses = all(
        len(got[key]) == len(EXPECTED[key]) and got[key] == pytest.approx(EXPECTED[key], rel=LOSS_RTOL)
        for key in ("loss", "loss_ce")
    )
    same_accuracies = all(
        got[key] == pytest.approx(EXPECTED[key], abs=1e-9) for key in ("base_accuracy", "new_accuracy")
    )
    return same_losses and same_accuracies


def test_base_to_new_run_reproduces_the_pinned_numbers(tmp_path):
    got = run_pinned_pipeline(str(tmp_path))
    assert _matches(got), (
        f"The pinned base-to-novel run ({ENGINE} engine) changed. If the change is intended, "
        f"replace EXPECTED in {__file__} with:\n\nEXPECTED = {pprint.pformat(got, width=100, compact=True)}\n"
    )
