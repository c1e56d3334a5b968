"""The benchmark protocols: their datasets, configs and run folders, in one place.

The four protocols of the paper and the zero-shot baseline, as the scripts of
``scripts/enprompt/`` run them (see ``docs/PROTOCOLS.md``). Each protocol is a
list of steps; each step is one ``train.py`` run per dataset, seed and shot
count, written to a folder of the CoOp-family layout under the output root::

    base2new_train  base2new/train_base/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>
    base2new_test   base2new/test_new/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>
    few_shot        few_shot/<dataset>/<trainer>/<cfg>_<K>shots/seed<S>
    xd_train        imagenet/<trainer>/<cfg>_<K>shots/seed<S>
    xd_test         evaluation/<trainer>/<cfg>_<K>shots/<dataset>/seed<S>
    zeroshot        <trainer>/<cfg>/<dataset>

An evaluation step (``--eval-only``) reads the model that its training step
saved: base2new_test the base2new_train run of the same dataset, xd_test the
ImageNet run of xd_train. Domain generalization (``dg``) is the cross-dataset
protocol (``xd``) with the ImageNet variants as targets: same steps, same
folders.

``enprompt.results`` finds runs through these folder templates. The scripts
write to them (they spell the folders out in bash, CoOp-style, and a test
checks that every script's folders, config and shot count are these ones),
and read their default lists from here::

    python -m enprompt.protocols datasets base2new      # the 11 datasets
    python -m enprompt.protocols datasets xd dg         # the 14 targets of ImageNet
    python -m enprompt.protocols shots few_shot         # 1 2 4 8 16
    python -m enprompt.protocols seeds                  # 1 2 3

This module imports neither torch nor numpy.
"""
import argparse
import os.path as osp
import re
import sys
from dataclasses import dataclass
from typing import Optional

from enprompt.data.catalog import IMAGENET_VARIANTS, LAYOUTS

__all__ = [
    "TRAINER",
    "SEEDS",
    "BENCHMARK_DATASETS",
    "XD_SOURCE",
    "XD_TARGETS",
    "DG_TARGETS",
    "SEED_FOLDER",
    "seed_regex",
    "Step",
    "STEPS",
    "Protocol",
    "PROTOCOLS",
    "dataset_order",
    "main",
]

# The trainer of the benchmark scripts.
TRAINER = "EnPrompt"
# The seeds every paper table averages over.
SEEDS = (1, 2, 3)

# The 11 datasets of the base-to-novel and few-shot protocols, in the papers' order.
BENCHMARK_DATASETS = (
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
)
# Cross-dataset: trained on ImageNet, evaluated on the 10 others.
XD_SOURCE = "imagenet"
XD_TARGETS = tuple(name for name in BENCHMARK_DATASETS if name != XD_SOURCE)
# Domain generalization: the ImageNet-trained model on ImageNet-V2, -Sketch, -A and -R.
DG_TARGETS = IMAGENET_VARIANTS

# The run folder of one seed inside an experiment folder.
SEED_FOLDER = "seed{seed}"
# Fields that are whole numbers in a folder name.
_INT_FIELDS = ("shots", "seed")
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Step:
    """One step of a protocol: a ``train.py`` run and the folder it writes.

    Attributes:
        name (str): e.g. ``base2new_train``.
        script (str): the script of ``scripts/enprompt/`` that runs it.
        folder (str): the experiment folder relative to the output root, with
            ``{dataset}``, ``{trainer}``, ``{cfg}`` and ``{shots}`` fields. Its
            run folders are ``seed<S>`` inside it (the folder itself when
            ``seeded`` is False).
        cfg (str): the default config name, ``configs/trainers/<trainer>/<cfg>.yaml``
            (the scripts' ``CFG``).
        shots (int or None): the shot count of the step; None where the
            caller gives it (few-shot) or none applies (zero-shot).
        trainer (str): the default trainer.
        eval_only (bool): an ``--eval-only`` run; its log ends with the
            ``=> result`` block alone (``enprompt.logparse``'s ``test_log``).
        model (Step or None): for an evaluation of a trained model, the step
            whose run folder it reads (``--model-dir``).
        model_dataset (str): the dataset that model was trained on, where it
            is not the evaluated one (cross-dataset: ``imagenet``).
        seeded (bool): one run folder per seed.
        arguments (tuple[str]): the script's positional arguments, in order,
            among ``dataset``, ``shots`` and ``seed`` (``KEY VALUE`` options
            follow them).
    """

    name: str
    script: str
    folder: str
    cfg: str
    shots: Optional[int] = None
    trainer: str = TRAINER
    eval_only: bool = False
    model: Optional["Step"] = None
    model_dataset: str = ""
    seeded: bool = True
    arguments: tuple = ("dataset", "seed")

    def script_args(self, dataset, seed=None, shots=None):
        """The positional arguments of ``scripts/enprompt/<script>`` for one run."""
        values = {"dataset": dataset, "seed": seed, "shots": shots}
        missing = [name for name in self.arguments if values[name] is None]
        if missing:
            raise ValueError(f"step {self.name} needs {' and '.join(missing)}")
        return [str(values[name]) for name in self.arguments]

    def fields(self, dataset, shots=None, trainer=None, cfg=None):
        """The folder fields, with this step's defaults for those not given."""
        shots = self.shots if shots is None else shots
        if shots is None and "{shots}" in self.folder:
            raise ValueError(f"step {self.name} needs a shot count (shots=...)")
        return {
            "dataset": dataset, "shots": shots,
            "trainer": trainer or self.trainer, "cfg": cfg or self.cfg,
        }

    def experiment_dir(self, root, dataset, shots=None, trainer=None, cfg=None):
        """The folder that holds the ``seed<S>`` run folders of one experiment."""
        fields = self.fields(dataset, shots, trainer, cfg)
        return osp.join(root, *self.folder.format(**fields).split("/"))

    def run_dir(self, root, dataset, seed=None, shots=None, trainer=None, cfg=None):
        """The run folder (``train.py --output-dir``) of one dataset, seed and shot count."""
        folder = self.experiment_dir(root, dataset, shots, trainer, cfg)
        if not self.seeded:
            return folder
        if seed is None:
            raise ValueError(f"step {self.name} needs a seed (seed=...)")
        return osp.join(folder, SEED_FOLDER.format(seed=seed))

    def model_dir(self, root, dataset, seed=None, shots=None, trainer=None, cfg=None):
        """The run folder of the trained model this evaluation reads (``--model-dir``)."""
        if self.model is None:
            raise ValueError(f"step {self.name} reads no trained model")
        dataset = self.model_dataset or dataset
        return self.model.run_dir(root, dataset, seed, shots, trainer, cfg)

    def pattern(self, **fixed):
        """Regexes of the experiment folder's path components, some fields fixed.

        A field given in ``fixed`` must equal that value; every other field
        matches any name (``shots`` a number) and is a named group. Matched
        against the sub-folders of the output root, one component after the
        other, they find every experiment folder of the step.
        """
        return [_component_regex(part, fixed) for part in self.folder.split("/")]


def _component_regex(part, fixed):
    regex, end = "", 0
    for match in _FIELD.finditer(part):
        name = match.group(1)
        regex += re.escape(part[end:match.start()])
        if name in fixed:
            regex += re.escape(str(fixed[name]))
        else:
            regex += f"(?P<{name}>\\d+)" if name in _INT_FIELDS else f"(?P<{name}>.+)"
        end = match.end()
    return re.compile(regex + re.escape(part[end:]))


def seed_regex():
    """Regex of a run folder name (``seed<S>``); group ``seed`` is the seed."""
    return _component_regex(SEED_FOLDER, {})


_B2N_CFG = "vit_b16_c4_ep5_batch4_base2new"
_FS_CFG = "vit_b16_c4_ep50_batch4_few_shot"
_XD_CFG = "vit_b16_c4_ep2_batch4_cross_datasets"

BASE2NEW_TRAIN = Step(
    "base2new_train", "base2new_train.sh",
    "base2new/train_base/{dataset}/shots_{shots}/{trainer}/{cfg}", cfg=_B2N_CFG, shots=16,
)
BASE2NEW_TEST = Step(
    "base2new_test", "base2new_test.sh",
    "base2new/test_new/{dataset}/shots_{shots}/{trainer}/{cfg}", cfg=_B2N_CFG, shots=16,
    eval_only=True, model=BASE2NEW_TRAIN,
)
FEW_SHOT = Step(
    "few_shot", "few_shot.sh", "few_shot/{dataset}/{trainer}/{cfg}_{shots}shots", cfg=_FS_CFG,
    arguments=("dataset", "shots", "seed"),
)
XD_TRAIN = Step(
    "xd_train", "xd_train.sh", "{dataset}/{trainer}/{cfg}_{shots}shots", cfg=_XD_CFG, shots=16,
    arguments=("seed",),
)
XD_TEST = Step(
    "xd_test", "xd_test.sh", "evaluation/{trainer}/{cfg}_{shots}shots/{dataset}",
    cfg=_XD_CFG, shots=16, eval_only=True, model=XD_TRAIN, model_dataset=XD_SOURCE,
)
ZEROSHOT = Step(
    "zeroshot", "zeroshot.sh", "{trainer}/{cfg}/{dataset}", cfg="vit_b16",
    trainer="ZeroshotCLIP", eval_only=True, seeded=False, arguments=("dataset",),
)
STEPS = {step.name: step for step in
         [BASE2NEW_TRAIN, BASE2NEW_TEST, FEW_SHOT, XD_TRAIN, XD_TEST, ZEROSHOT]}


@dataclass(frozen=True)
class Protocol:
    """A protocol of the paper: its steps, datasets, shot counts.

    Attributes:
        name (str): ``base2new``, ``few_shot``, ``xd``, ``dg`` or ``zeroshot``.
        steps (tuple[Step]): in the order they run for one dataset and seed.
        datasets (tuple[str]): the datasets it reports (the targets for
            ``xd`` and ``dg``).
        shots (tuple[int]): the shot counts it runs.
        source (str): the dataset trained once per seed for all targets
            (``xd``, ``dg``), or ``""``.
    """

    name: str
    steps: tuple
    datasets: tuple
    shots: tuple = (16,)
    source: str = ""

    @property
    def cfg(self):
        """The default config name (that of its first step)."""
        return self.steps[0].cfg


PROTOCOLS = {protocol.name: protocol for protocol in [
    Protocol("base2new", (BASE2NEW_TRAIN, BASE2NEW_TEST), BENCHMARK_DATASETS),
    Protocol("few_shot", (FEW_SHOT,), BENCHMARK_DATASETS, shots=(1, 2, 4, 8, 16)),
    Protocol("xd", (XD_TRAIN, XD_TEST), XD_TARGETS, source=XD_SOURCE),
    Protocol("dg", (XD_TRAIN, XD_TEST), DG_TARGETS, source=XD_SOURCE),
    Protocol("zeroshot", (ZEROSHOT,), BENCHMARK_DATASETS + DG_TARGETS, shots=()),
]}


def dataset_order(names):
    """``names`` sorted in the papers' order (the catalog's), then any other by name."""
    known = list(LAYOUTS)
    return sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n))


def _union(lists):
    return list(dict.fromkeys(value for values in lists for value in values))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m enprompt.protocols",
        description="Print a default list of the benchmark protocols, space-separated "
        "(what scripts/enprompt/reproduce_*.sh loop over).",
    )
    parser.add_argument("what", choices=["datasets", "shots", "seeds"],
                        help="datasets or shot counts of the protocols, or the seeds")
    parser.add_argument("protocols", nargs="*", metavar="PROTOCOL",
                        help=f"one or more of {', '.join(PROTOCOLS)} (the union is printed)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.protocols if name not in PROTOCOLS]
    if unknown:
        parser.error(f"unknown protocol {unknown[0]!r}; choose from {', '.join(PROTOCOLS)}")
    if args.what == "seeds":
        values = SEEDS
    elif not args.protocols:
        parser.error(f"{args.what} needs at least one PROTOCOL ({', '.join(PROTOCOLS)})")
    else:
        values = _union(getattr(PROTOCOLS[name], args.what) for name in args.protocols)
    print(" ".join(str(value) for value in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
