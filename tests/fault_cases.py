"""The fault-injection suite: faults and bad inputs a user meets, tried on purpose.

Each case below injects one fault (a diverging learning rate, a full disk, a
damaged image or split file, ...), runs ``train.py`` as a user would (its
``cli()``, in-process), and checks what the user sees and that nothing was
lost. ``CASES`` is the registry; docs/RELIABILITY.md ("Fault-injection
suite") lists every case with what the user sees, and
``tests/test_faults.py`` checks that the two agree and runs the suite on
each engine.

The engine is chosen when ``enprompt.dassl`` is first imported, so the suite
runs in one process per engine::

    python -m tests.fault_cases OUTPUT.json WORK_DIR CLIP_WEIGHTS [CASE_ID ...]

writes ``{case id: {"status": "handled" | "failed" | "skipped", "detail": ...}}``.
A case passes by returning; a failed check raises ``AssertionError``, whose
message is the detail; ``Skip`` says why a case cannot run here.
"""
import contextlib
import io
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass

from tests.fake_data import edit_split_file
from tests.paths import REPO

SPLIT = "split_zhou_DescribableTextures.json"

__all__ = ["Case", "CASES", "Skip", "main"]


@dataclass(frozen=True)
class Case:
    """One fault: ``id``, what is injected (``fault``), the text the user sees
    (``shows``: a line the output must contain, also quoted in the docs), and
    ``run(ctx)``, which injects it and checks the outcome."""

    id: str
    fault: str
    shows: str
    run: object


class Skip(Exception):
    """The case cannot run here; the message says why."""


CASES = []


def case(id, fault, shows):
    def register(run):
        CASES.append(Case(id, fault, shows, run))
        return run
    return register


# ---------------------------------------------------------------- running train.py
@dataclass
class Result:
    code: int
    out: str
    err: str

    def error_line(self):
        """The ``Error: ...`` line the user sees first (None without one)."""
        lines = [line for line in self.err.splitlines() if line.startswith("Error: ")]
        return lines[0] if lines else None


class Context:
    """What a case needs: a work folder, the tiny CLIP, and ``train()``."""

    def __init__(self, work_dir, clip):
        self.work_dir = work_dir
        self.clip = clip

    def folder(self, name):
        return osp.join(self.work_dir, name)

    def data(self, name="data", split=True, **kwargs):
        """A fake DTD (4 classes of 12 images) under ``<work>/<name>``; its split file is
        created first (as a published one would be there) unless ``split=False``."""
        from tests.fake_data import make_dtd, read_dataset

        root = self.folder(name)
        fake = make_dtd(root, **{"n_classes": 4, "n_per_class": 12, "class_dependent": True,
                                 "image_size": 32, **kwargs})
        if split:
            with contextlib.redirect_stdout(io.StringIO()):
                read_dataset(root, fake.reader)
        return fake

    def train(self, root, out, *opts, flags=(), seed=1, clip=None, **argv_kwargs):
        """Run ``train.py`` (``cli()``, as the command line does) and capture what it prints.

        ``clip``: ``TRAINER.ENPROMPT.CLIP_WEIGHTS`` (default: the tiny CLIP);
        ``argv_kwargs``: more of :func:`tests.train_py.train_argv`'s (``trainer``, ``config_file``).
        """
        import train
        from tests.log_tee import undo_log_tee
        from tests.train_py import train_argv

        argv = train_argv("DATASET.NUM_SHOTS", 2, "TRAINER.ENPROMPT.PREC", "fp32",
                          "OPTIM.MAX_EPOCH", 2, "DATALOADER.NUM_WORKERS", 0,
                          "DATALOADER.TEST.BATCH_SIZE", 16, *opts, root=root, output_dir=out,
                          clip_weights=self.clip if clip is None else clip, seed=seed,
                          flags=flags, **argv_kwargs)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = train.cli(argv)
            finally:  # inside the redirection: Dassl's Logger would close its console when dropped
                undo_log_tee()
        return Result(code, stdout.getvalue(), stderr.getvalue())


def expect(condition, what, result=None):
    if not condition:
        tail = f"\n--- stdout (end) ---\n{result.out[-1500:]}\n--- stderr ---\n{result.err[-2500:]}" \
            if result is not None else ""
        raise AssertionError(what + tail)


def expect_refusal(result, shows, *more):
    """Exit status 2, one ``Error:`` line starting with ``shows``, no traceback."""
    line = result.error_line()
    expect(result.code == 2, f"exit status {result.code}, expected 2", result)
    expect(line is not None and line.startswith(shows), f"the error does not start with {shows!r}",
           result)
    expect("Traceback" not in result.err and "Caught " not in result.err,
           "a traceback is shown", result)
    for text in more:
        expect(text in line, f"the error does not say {text!r}", result)
    return line


def first_train_image(fake):
    """The path of the first image of the fake dataset's train split."""
    with open(osp.join(fake.dataset_dir, SPLIT)) as f:
        return osp.join(fake.dataset_dir, "images", json.load(f)["train"][0][0])


def damage_first_train_image(fake):
    """Overwrite the first train image with bytes no decoder reads; returns its path."""
    bad = first_train_image(fake)
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8 not a jpeg")
    return bad


def checkpoints(out):
    folder = osp.join(out, "prompt_learner")
    return sorted(os.listdir(folder)) if osp.isdir(folder) else []


# ---------------------------------------------------------------- the cases
_RERUN = "start over in this folder with train.py --overwrite (scripts: OVERWRITE=1)"


@case("diverging-lr", "OPTIM.LR 1e8 (the weights explode while the loss stays finite), then "
      "the advice followed: a lower OPTIM.LR with --overwrite",
      shows="Error: Training diverged in epoch 2/3: prompt_learner's")
def diverging_lr(ctx):
    from enprompt.engine.checkpoint import load_checkpoint
    from enprompt.engine.checkpoint_health import weights_problem

    fake, out = ctx.data(), ctx.folder("run")
    failed = ctx.train(fake.root, out, "OPTIM.LR", "1e8", "OPTIM.MAX_EPOCH", "3")
    line = expect_refusal(failed, "Error: Training diverged in epoch 2/3: prompt_learner's",
                          f'"{out}/prompt_learner/model.pth.tar-1" (epoch 1), is kept', _RERUN)
    expect(checkpoints(out) == ["checkpoint", "model.pth.tar-1"], f"folder holds {checkpoints(out)}")
    expect(weights_problem(load_checkpoint(f"{out}/prompt_learner/model.pth.tar-1")["state_dict"])
           is None, "the kept checkpoint is not good")
    expect("Try a lower OPTIM.LR" in line, "no hint to lower OPTIM.LR")
    # follow the advice, as written
    fixed = ctx.train(fake.root, out, "OPTIM.LR", "0.0035", "OPTIM.MAX_EPOCH", "3",
                      flags=["--overwrite"])
    expect(fixed.code == 0 and "* accuracy:" in fixed.out, "the advised rerun did not finish", fixed)
    state = load_checkpoint(f"{out}/prompt_learner/model.pth.tar-3")
    expect(weights_problem(state["state_dict"]) is None, "the advised rerun diverged")
    expect(state["optimizer"]["param_groups"][0]["initial_lr"] == 0.0035,
           "the rerun did not use the new learning rate")


@case("full-disk", "the output folder on a 640 KiB filesystem: the first checkpoint fits, "
      "the second does not", shows="Error: No space left on the device while writing")
def full_disk(ctx):
    from enprompt.engine.checkpoint import load_checkpoint
    from enprompt.fileio import is_temp_name
    from tests.small_disk import tmpfs

    fake, out = ctx.data(), ctx.folder("disk")
    os.makedirs(out)
    with tmpfs(out, 640, skip=Skip):
        result = ctx.train(fake.root, out)
        expect_refusal(result, "Error: No space left on the device while writing "
                       f'"{out}/prompt_learner/model.pth.tar-2"', "previous checkpoint",
                       "rerun the same command")
        expect(checkpoints(out) == ["checkpoint", "model.pth.tar-1"], f"folder holds {checkpoints(out)}")
        expect(load_checkpoint(f"{out}/prompt_learner/model.pth.tar-1")["epoch"] == 1,
               "the previous checkpoint is damaged")
        left = [n for _, _, names in os.walk(out) for n in names if is_temp_name(n)]
        expect(not left, f"temporary files left: {left}")


@case("shared-folder", "a run under umask 002 (a group-shared dataset and output folder)",
      shows="-rw-rw-r--")
def shared_folder(ctx):
    fake, out = ctx.data(split=False), ctx.folder("shared")
    before = os.umask(0o002)
    try:
        result = ctx.train(fake.root, out, "OPTIM.MAX_EPOCH", "1")
    finally:
        os.umask(before)
    expect(result.code == 0, "the run failed", result)
    files = [osp.join(fake.dataset_dir, SPLIT),
             osp.join(fake.dataset_dir, "split_fewshot", "shot_2-seed_1.json"),
             osp.join(out, "prompt_learner", "model.pth.tar-1"),
             osp.join(out, "prompt_learner", "checkpoint"), osp.join(out, "manifest.json")]
    modes = {path: oct(os.stat(path).st_mode & 0o777) for path in files}
    expect(set(modes.values()) == {"0o664"}, f"modes {modes}, expected 0o664 (-rw-rw-r--)")


def _split_case(id, fault, edit, shows, *more):
    @case(id, fault, shows)
    def run(ctx):
        fake = ctx.data()
        path = edit_split_file(fake, edit)
        result = ctx.train(fake.root, ctx.folder("run"))
        expect_refusal(result, shows)
        expect(f"  path: {path}" in result.err, "the file is not named", result)
        expect("download the published split file again" in result.err, "no fix", result)
        for text in more:
            expect(text in result.err, f"the error does not say {text!r}", result)
        expect(not checkpoints(ctx.folder("run")), "training started")
    return run


_split_case("test-label-99", "five test entries of the split file with label 99",
            lambda s: [e.__setitem__(1, 99) for e in s["test"][:5]],
            "Error: DescribableTextures is not ready: the file is malformed: entry 0 of \"test\"",
            "but the classes (the labels of the first list) are 0..3")
_split_case("train-label-99", "a train entry of the split file with label 99",
            lambda s: s["train"][0].__setitem__(1, 99),
            "Error: DescribableTextures is not ready: the file is malformed: the labels of \"train\"",
            "must be 0..99 without a gap")
_split_case("train-no-label", "a train entry of the split file without its label",
            lambda s: s["train"][0].pop(1),
            "Error: DescribableTextures is not ready: the file is malformed: entry 0 of \"train\"",
            "expected [image path, label, class name]")
_split_case("train-is-5", 'a split file with "train": 5',
            lambda s: s.__setitem__("train", 5),
            "Error: DescribableTextures is not ready: the file is malformed: \"train\" is 5")


def _fewshot_case(id, fault, write, shows, *more):
    @case(id, fault, shows)
    def run(ctx):
        fake = ctx.data()
        cache = osp.join(fake.dataset_dir, "split_fewshot", "shot_2-seed_1.json")
        os.makedirs(osp.dirname(cache), exist_ok=True)
        with open(osp.join(fake.dataset_dir, SPLIT)) as f:
            split = json.load(f)
        with open(cache, "w") as f:
            json.dump(write(split), f)
        result = ctx.train(fake.root, ctx.folder("run"))
        expect_refusal(result, shows)
        expect(f"  path: {cache}" in result.err, "the cache is not named", result)
        expect("delete this cache file" in result.err, "no fix", result)
        for text in more:
            expect(text in result.err, f"the error does not say {text!r}", result)
    return run


def _images(records):
    return [["images/" + p, y, c] for p, y, c in records]


_fewshot_case("fewshot-cache-of-test-images", "a few-shot cache whose train samples are test images",
              lambda s: {"train": _images(s["test"][:8]), "val": _images(s["val"][:4])},
              "Error: DescribableTextures is not ready: 8 of its 8 \"train\" samples are not train "
              "images of the current split")
_fewshot_case("empty-fewshot-cache", "an empty few-shot cache",
              lambda s: {"train": [], "val": []},
              "Error: DescribableTextures is not ready: the file is malformed: \"train\" is an empty list")


@case("truncated-jpeg", "a truncated JPEG in the training list, read by a DataLoader worker "
      "(NUM_WORKERS 1)", shows='Error: Cannot read image "')
def truncated_jpeg(ctx):
    fake = ctx.data()
    bad = first_train_image(fake)
    with open(bad, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])
    result = ctx.train(fake.root, ctx.folder("run"), "DATASET.NUM_SHOTS", "-1",
                       "DATALOADER.NUM_WORKERS", "1")
    expect_refusal(result, f'Error: Cannot read image "{bad}": ', "re-download or re-extract",
                   "DATALOADER.SKIP_BAD_IMAGES True")


@case("random-bytes-checkpoint", "--eval-only on a model folder whose checkpoint is random bytes",
      shows='Error: Cannot read checkpoint "')
def random_bytes_checkpoint(ctx):
    fake, model_dir = ctx.data(), ctx.folder("model")
    path = osp.join(model_dir, "prompt_learner", "model.pth.tar-1")
    os.makedirs(osp.dirname(path))
    rng = random.Random(0)
    with open(path, "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(4096)))
    result = ctx.train(fake.root, ctx.folder("eval"),
                       flags=["--eval-only", "--model-dir", model_dir, "--load-epoch", "1"])
    expect_refusal(result, f'Error: Cannot read checkpoint "{path}" (', "delete it and rerun")


@case("readme-in-class-folder", "a README.txt in each class folder of a dataset whose split "
      "is created from its folders", shows="Saved split to")
def readme_in_class_folder(ctx):
    fake = ctx.data(split=False)
    for folder in fake.classnames:
        with open(osp.join(fake.dataset_dir, "images", folder, "README.txt"), "w") as f:
            f.write("notes\n")
    result = ctx.train(fake.root, ctx.folder("run"), "OPTIM.MAX_EPOCH", "1")
    expect(result.code == 0, "the run failed", result)
    with open(osp.join(fake.dataset_dir, SPLIT)) as f:
        split = json.load(f)
    names = [p for key in split for p, _, _ in split[key]]
    expect(len(names) == 48 and all(p.endswith(".jpg") for p in names),
           f"the split holds {len(names)} items, non-images among them")


_KILLED_WRITE = ("import os, sys, enprompt.fileio as io\n"
                 "w = io.atomic_write(sys.argv[1], 'wb'); f = w.__enter__(); f.write(b'x' * 100000)\n"
                 "f.flush(); os.kill(os.getpid(), 9)\n")


@case("killed-writes", "three checkpoint writes killed by SIGKILL (a hidden temporary file "
      "each), then a run in the folder", shows="Removed 3 temporary file(s) (0.3 MB)")
def killed_writes(ctx):
    from enprompt.fileio import is_temp_name

    fake, out = ctx.data(), ctx.folder("run")
    target = osp.join(out, "prompt_learner", "model.pth.tar-1")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    for _ in range(3):
        subprocess.run([sys.executable, "-c", _KILLED_WRITE, target], env=env)
    left = [n for n in os.listdir(osp.dirname(target)) if is_temp_name(n)]
    expect(len(left) == 3, f"the kills left {left}")
    result = ctx.train(fake.root, out, "OPTIM.MAX_EPOCH", "1")
    expect(result.code == 0, "the run failed", result)
    expect(f"Removed 3 temporary file(s) (0.3 MB) that interrupted writes left in {out}." in result.out,
           "no line about the removed files", result)
    expect(checkpoints(out) == ["checkpoint", "model.pth.tar-1"], f"folder holds {checkpoints(out)}")


@case("unseeded-runs", "two runs with --seed -1 on the same dataset",
      shows="Unseeded run (SEED < 0): drew new few-shot samples, kept with this run in")
def unseeded_runs(ctx):
    from enprompt.run.provenance import file_sha256

    fake = ctx.data()
    samples = []
    for name in ("a", "b"):
        out = ctx.folder(name)
        result = ctx.train(fake.root, out, "OPTIM.MAX_EPOCH", "1", seed=-1)
        expect(result.code == 0, "the run failed", result)
        path = osp.join(out, "fewshot_samples.json")
        expect("Unseeded run (SEED < 0): drew new few-shot samples, kept with this run in "
               f"{path}" in result.out, "no line about the new samples", result)
        with open(osp.join(out, "manifest.json")) as f:
            record = json.load(f)["data"]["fewshot_file"]
        expect(record == {"path": path, "sha256": file_sha256(path)},
               f"the manifest records {record}")
        with open(path) as f:
            samples.append(json.load(f))
    expect(samples[0] != samples[1], "both unseeded runs trained on the same samples")
    cache = osp.join(fake.dataset_dir, "split_fewshot", "shot_2-seed_-1.json")
    expect(not osp.exists(cache), "the shared cache was written for an unseeded run")


@case("infinite-lr", "OPTIM.LR 1e999 on the command line (inf; YAML's .inf likewise)",
      shows="Error: OPTIM.LR = inf is invalid: expected a finite number > 0")
def infinite_lr(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    result = ctx.train(fake.root, out, "OPTIM.LR", "1e999")
    expect_refusal(result, "Error: OPTIM.LR = inf is invalid: expected a finite number > 0")
    expect(not osp.exists(out), "the run folder was created")


# ---------------------------------------------------------------- early errors
_CONFIG_DUMP = "** Config **"


def expect_early(result, out, shows, *more):
    """A refusal before the config dump and the system info, with nothing recorded in ``out``."""
    line = expect_refusal(result, shows, *more)
    expect(_CONFIG_DUMP not in result.out and "System info" not in result.out,
           "the config or the system info was printed before the error", result)
    recorded = [n for n in ("log.txt", "manifest.json") if osp.exists(osp.join(out, n))]
    expect(not recorded, f"the run folder holds {recorded}", result)
    return line


@case("empty-root", "train.py with --root \"\" (an unset $DATA)",
      shows="Error: The data root is empty: pass --root DATA")
def empty_root(ctx):
    out = ctx.folder("run")
    expect_early(ctx.train("", out), out, "Error: The data root is empty: pass --root DATA")


@case("missing-root", "--root naming a folder that does not exist",
      shows='(--root, DATASET.ROOT) does not exist')
def missing_root(ctx):
    out, root = ctx.folder("run"), ctx.folder("no-such-data")
    expect_early(ctx.train(root, out), out, f'Error: The data root "{root}" (--root, DATASET.ROOT) '
                 "does not exist")


@case("missing-dataset-folder", "a data root without the dataset's folder (dtd/)",
      shows="Error: DescribableTextures is not ready: dataset folder not found")
def missing_dataset_folder(ctx):
    out, root = ctx.folder("run"), ctx.folder("data")
    os.makedirs(root)
    result = ctx.train(root, out)
    expect_early(result, out, "Error: DescribableTextures is not ready: dataset folder not found")
    expect(f"  path: {root}/dtd" in result.err and "must be the folder that contains dtd/" in result.err,
           "the folder and the fix are not named", result)


@case("images-not-in-class-folders", "a DTD whose images lie loose in images/ (no class folders)",
      shows="Error: DescribableTextures is not ready: 48 images lie directly in this folder")
def images_not_in_class_folders(ctx):
    fake, out = ctx.data(split=False), ctx.folder("run")
    images = osp.join(fake.dataset_dir, "images")
    for folder in fake.classnames:
        for name in os.listdir(osp.join(images, folder)):
            os.rename(osp.join(images, folder, name), osp.join(images, f"{folder}_{name}"))
        os.rmdir(osp.join(images, folder))
    expect_early(ctx.train(fake.root, out), out,
                 "Error: DescribableTextures is not ready: 48 images lie directly in this folder")


@case("unknown-trainer", "--trainer EnPromt (a typo)",
      shows='Error: Unknown trainer "EnPromt" (--trainer, TRAINER.NAME). Did you mean EnPrompt?')
def unknown_trainer(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    expect_early(ctx.train(fake.root, out, trainer="EnPromt"), out,
                 'Error: Unknown trainer "EnPromt" (--trainer, TRAINER.NAME). Did you mean '
                 "EnPrompt?", "Registered trainers:", "ZeroshotCLIP")


@case("missing-clip-weights", "no CLIP weights in an empty CLIP cache, and no network to download them",
      shows="Error: CLIP weights for ViT-B/16 are needed (")
def missing_clip_weights(ctx):
    import urllib.error

    import enprompt.clip_loader as loader

    fake, out, cache = ctx.data(split=False), ctx.folder("run"), ctx.folder("clip-cache")
    os.makedirs(cache)

    def no_network(url, target, sha256):
        raise urllib.error.URLError("no network here")

    saved = loader._download, os.environ.get(loader.CLIP_CACHE_ENV)
    loader._download, os.environ[loader.CLIP_CACHE_ENV] = no_network, cache
    try:
        result = ctx.train(fake.root, out, clip="")
    finally:
        loader._download = saved[0]
        if saved[1] is None:
            os.environ.pop(loader.CLIP_CACHE_ENV)
        else:
            os.environ[loader.CLIP_CACHE_ENV] = saved[1]
    expect_early(result, out, "Error: CLIP weights for ViT-B/16 are needed (",
                 f"{cache}/ViT-B-16.pt does not exist", "put it at")
    expect(not osp.exists(osp.join(fake.dataset_dir, SPLIT)), "the dataset was read first")


@case("misspelt-option", "OPTIM.MAX_EPOCHS 5 on the command line",
      shows="Error: Invalid command-line option: unknown config key OPTIM.MAX_EPOCHS. "
            "Did you mean OPTIM.MAX_EPOCH?")
def misspelt_option(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    result = ctx.train(fake.root, out, "OPTIM.MAX_EPOCHS", "5")
    expect_refusal(result, "Error: Invalid command-line option: unknown config key "
                   "OPTIM.MAX_EPOCHS. Did you mean OPTIM.MAX_EPOCH?")
    expect(not osp.exists(out), "the run folder was created")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


@case("misspelt-yaml-key", "MAX_EPOCHS: 5 under OPTIM: in the --config-file",
      shows='": unknown config key OPTIM.MAX_EPOCHS. Did you mean OPTIM.MAX_EPOCH?')
def misspelt_yaml_key(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    path = _write(ctx.folder("method.yaml"), "OPTIM:\n  LR: 0.0035\n  MAX_EPOCHS: 5\n")
    result = ctx.train(fake.root, out, config_file=path)
    expect_refusal(result, f'Error: Invalid config file "{path}": unknown config key '
                   "OPTIM.MAX_EPOCHS. Did you mean OPTIM.MAX_EPOCH?")
    expect(not osp.exists(out), "the run folder was created")


@case("lowercase-bool", "TEST.NO_TEST false (lower case) on the command line",
      shows="Error: Invalid command-line option: TEST.NO_TEST = 'false' is text, but TEST.NO_TEST "
            "expects a boolean (True or False, capitalised)")
def lowercase_bool(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    expect_refusal(ctx.train(fake.root, out, "TEST.NO_TEST", "false"),
                   "Error: Invalid command-line option: TEST.NO_TEST = 'false' is text, but "
                   "TEST.NO_TEST expects a boolean (True or False, capitalised)",
                   "A valid value: TEST.NO_TEST False")


@case("word-for-a-number", "OPTIM.MAX_EPOCH five on the command line",
      shows="Error: Invalid command-line option: OPTIM.MAX_EPOCH = 'five' is text, but "
            "OPTIM.MAX_EPOCH expects an integer. A valid value: OPTIM.MAX_EPOCH ")
def word_for_a_number(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    line = expect_refusal(ctx.train(fake.root, out, "OPTIM.MAX_EPOCH", "five"),
                          "Error: Invalid command-line option: OPTIM.MAX_EPOCH = 'five' is text, "
                          "but OPTIM.MAX_EPOCH expects an integer. A valid value: OPTIM.MAX_EPOCH ")
    example = line.rsplit(" ", 1)[-1]
    expect(example.isdigit() and int(example) >= 1, f"the example {example!r} is not a valid value")


@case("tab-in-yaml", "a --config-file indented with a tab",
      shows=", line 3, column 1: YAML does not allow tabs; indent with spaces.")
def tab_in_yaml(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    path = _write(ctx.folder("method.yaml"), "OPTIM:\n  LR: 0.0035\n\tMAX_EPOCH: 5\n")
    expect_refusal(ctx.train(fake.root, out, config_file=path),
                   f'Error: Cannot read config file "{path}", line 3, column 1: YAML does not '
                   "allow tabs; indent with spaces.")


@case("empty-config-file", "an empty --config-file", shows='" is empty: it sets no key')
def empty_config_file(ctx):
    fake, out = ctx.data(), ctx.folder("run")
    path = _write(ctx.folder("method.yaml"), "")
    expect_refusal(ctx.train(fake.root, out, config_file=path),
                   f'Error: --config-file "{path}" is empty: it sets no key', "MODEL.BACKBONE.NAME")
    expect(not osp.exists(out), "the run folder was created")


@case("mistyped-resume", "--resume naming a folder that does not exist, then one without a checkpoint",
      shows='" does not exist, so nothing would be resumed (the run would train from scratch)')
def mistyped_resume(ctx):
    fake, out, typo, empty = ctx.data(), ctx.folder("run"), ctx.folder("rnu"), ctx.folder("empty")
    expect_refusal(ctx.train(fake.root, out, flags=["--resume", typo]),
                   f'Error: --resume "{typo}" does not exist, so nothing would be resumed (the run '
                   "would train from scratch)")
    os.makedirs(osp.join(empty, "prompt_learner"))
    expect_refusal(ctx.train(fake.root, out, flags=["--resume", empty]),
                   f'Error: --resume "{empty}" holds no checkpoint')
    expect(not osp.exists(out), "the run folder was created")


@case("model-dir-is-a-file", "--eval-only --model-dir naming a checkpoint file",
      shows='" is a file, but --eval-only needs a model folder')
def model_dir_is_a_file(ctx):
    fake, out = ctx.data(), ctx.folder("eval")
    path = _write(ctx.folder("model.pth.tar-2"), "x")
    expect_refusal(ctx.train(fake.root, out, flags=["--eval-only", "--model-dir", path]),
                   f'Error: --model-dir "{path}" is a file, but --eval-only needs a model folder',
                   "the output folder of a finished training run")


@case("log-fills-the-disk", "the disk of the output folder fills up after epoch 1's checkpoint "
      "and the log grows by 16 KB, so the log is the first file that cannot be written; then "
      "space is freed and the run rerun",
      shows="Error: No space left on the device while writing the run's log \"")
def log_fills_the_disk(ctx):
    from enprompt.engine.checkpoint import load_checkpoint
    from enprompt.engine.checkpoint_mixin import CheckpointMixin
    from tests.small_disk import fill_up, tmpfs

    fake, out = ctx.data(), ctx.folder("disk")
    os.makedirs(out)
    save_epoch = CheckpointMixin.save_epoch_checkpoint
    filled = []

    def save_then_fill(self):
        save_epoch(self)
        filled.append(fill_up(out))  # another program takes the rest of the disk
        print("a long log line " * 1000)  # more than the free end of the log's last page

    with tmpfs(out, 2048, skip=Skip):
        CheckpointMixin.save_epoch_checkpoint = save_then_fill
        try:
            result = ctx.train(fake.root, out, "TRAIN.PRINT_FREQ", "1")
            log = osp.join(out, "log.txt")
            line = expect_refusal(
                result, f'Error: No space left on the device while writing the run\'s log "{log}"',
                "are intact", f"df -h {out}", "rerun the same command")
            expect(checkpoints(out) == ["checkpoint", "model.pth.tar-1"],
                   f"folder holds {checkpoints(out)}")
            expect(load_checkpoint(f"{out}/prompt_learner/model.pth.tar-1")["epoch"] == 1,
                   "the checkpoint is damaged")
            CheckpointMixin.save_epoch_checkpoint = save_epoch
            os.remove(filled[0])  # the user frees the space and reruns
            rerun = ctx.train(fake.root, out, "TRAIN.PRINT_FREQ", "1")
            expect(rerun.code == 0 and "* accuracy:" in rerun.out, "the rerun did not finish", rerun)
            expect("Found an unfinished run of the same experiment" in rerun.out, "the rerun did not "
                   f"resume ({line})", rerun)
        finally:
            CheckpointMixin.save_epoch_checkpoint = save_epoch


@case("reruns-in-one-second", "three runs in one folder started within the same second "
      "(the clock frozen), each failing on a damaged image after its log is opened",
      shows="log.txt, log.txt-2026-12-01-12-00-00, log.txt-2026-12-01-12-00-00-2")
def reruns_in_one_second(ctx):
    import time

    fake, out = ctx.data(), ctx.folder("run")
    bad = damage_first_train_image(fake)
    strftime = time.strftime
    time.strftime = lambda fmt, *t: strftime(fmt, time.strptime("2026-12-01 12:00:00", "%Y-%m-%d %H:%M:%S"))
    try:
        results = [ctx.train(fake.root, out, "DATASET.NUM_SHOTS", "-1") for _ in range(3)]
    finally:
        time.strftime = strftime
    for result in results:
        expect(result.code == 2, "a run did not fail on the damaged image", result)
    names = sorted(n for n in os.listdir(out) if n.startswith("log.txt"))
    expect(names == ["log.txt", "log.txt-2026-12-01-12-00-00", "log.txt-2026-12-01-12-00-00-2"],
           f"the logs are {names}")
    for name in names:
        with open(osp.join(out, name)) as f:
            text = f.read()
        expect(text.count(_CONFIG_DUMP) == 1 and f'Error: Cannot read image "{bad}"' in text,
               f"{name} does not hold one whole run")


@case("warnings-ignored", "DATALOADER.SKIP_BAD_IMAGES True with a damaged image, under "
      "PYTHONWARNINGS=ignore", shows="Warning: Skipped 1 unreadable image(s) (")
def warnings_ignored(ctx):
    import warnings

    fake, out = ctx.data(), ctx.folder("run")
    bad = damage_first_train_image(fake)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what PYTHONWARNINGS=ignore does
        result = ctx.train(fake.root, out, "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "-1",
                           "DATALOADER.SKIP_BAD_IMAGES", "True")
    expect(result.code == 0, "the run failed", result)
    with open(osp.join(out, "log.txt")) as f:
        log = f.read()
    for where, text in (("the console", result.err), ("log.txt", log)):
        expect("Warning: Skipped 1 unreadable image(s) (" in text and bad in text,
               f"{where} does not say the image was skipped", result)
    expect(result.err.count("Skipped 1 unreadable") == 1, "the notice is shown twice", result)


# ---------------------------------------------------------------- the runner
def run_case(c, work_dir, clip):
    """``{"status", "detail"}`` of one case, run in ``work_dir/<id>``."""
    folder = osp.join(work_dir, c.id)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        c.run(Context(folder, clip))
    except Skip as e:
        return {"status": "skipped", "detail": str(e)}
    except AssertionError as e:
        return {"status": "failed", "detail": str(e) or traceback.format_exc()}
    except BaseException:  # noqa: BLE001 - an unexpected error is a failure of the case
        return {"status": "failed", "detail": traceback.format_exc()}
    return {"status": "handled", "detail": ""}


def main(argv=None):
    output, work_dir, clip, *ids = argv if argv is not None else sys.argv[1:]
    selected = [c for c in CASES if not ids or c.id in ids]
    os.chdir(REPO)
    outcomes = {c.id: run_case(c, work_dir, clip) for c in selected}
    import enprompt.dassl

    outcomes["_engine"] = enprompt.dassl.ENGINE
    with open(output, "w") as f:
        json.dump(outcomes, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
