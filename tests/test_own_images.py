"""Your own images end to end: base-to-novel on an image folder through the real
scripts (both layouts; train.py writes each run's manifest), then the trained
model as a classifier: ``from_run``,
``predict``, ``set_classes``, export to ``.safetensors`` and ``from_file``, the
``predict`` command line, and the errors of bad inputs.

One module fixture runs the scripts once (1 epoch, a few images, the tiny
random CLIP); every test reads those runs.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
from PIL import Image

from enprompt import EnPromptClassifier
from enprompt.export import main as export_main
from enprompt.inference import (
    ImageInputError,
    RunWithoutManifestError,
    TrainedModelError,
    load_model_file,
)
from enprompt.predict import main as predict_main
from enprompt.protocols import BASE2NEW_TEST, BASE2NEW_TRAIN
from enprompt.results import collect_tables
from enprompt.run.provenance import file_sha256
from tests.child_process import assert_succeeded, child_env, modules_loaded_by
from tests.log_patterns import final_result
from tests.paths import REPO
from tests.script_helpers import SCRIPTS, script_env
from tests.trainer_tools import logits_on_test_set
from tests.train_py import trainer_from_argv

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CFG = "vit_b16_c4_ep5_batch4_base2new"
RUN = osp.join("base2new", "{phase}", "image_folder", "shots_16", "EnPrompt", CFG, "seed1")
# 4 classes, one colour each, so that even one epoch learns something.
COLORS = {"golden_retriever": (230, 180, 40), "parrot": (30, 200, 60),
          "tabby_cat": (120, 120, 120), "zebra": (250, 250, 250)}
FOLDERS = {"flat": "pets", "given": "shop"}


def write_image(path, color, jitter):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new("RGB", (16, 16), tuple(min(255, c + jitter) for c in color)).save(path)


def make_folders(root):
    """``pets/<class>/*.jpg`` (flat: 6 per class) and ``shop/{train,val,test}/<class>/*.png``."""
    for name, color in COLORS.items():
        for i in range(6):
            write_image(osp.join(root, "pets", name, f"{i}.jpg"), color, 3 * i)
        for part, n in (("train", 3), ("val", 1), ("test", 2)):
            for i in range(n):
                write_image(osp.join(root, "shop", part, name, f"{part}{i}.png"), color, 5 * i)


def start_script(name, *args, env):
    return subprocess.Popen(["bash", osp.join(SCRIPTS, name), *map(str, args)], cwd=env["WORK"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_script(process):
    stdout, stderr = process.communicate(timeout=600)
    assert_succeeded(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr),
                     " ".join(process.args))
    return stdout


def train_py_argv(stdout):
    """The train.py arguments a script ran (its ``Running: python train.py ...`` line)."""
    line = next(line for line in stdout.splitlines() if line.startswith("Running: "))
    return line.split(" train.py ", 1)[1].split()


class Runs:
    def __init__(self, root, clip):
        self.root, self.clip = root, clip
        self.data = osp.join(root, "data")
        self.out = {}
        self.stdout = {}
        self.argv = {}

    def run_dir(self, layout, phase):
        return osp.join(self.out[layout], RUN.format(phase=phase))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_clip_path):
    """Base-to-novel through the scripts: both layouts trained (at once), the flat
    one also tested on its new classes; each layout has its own output root."""
    root = str(tmp_path_factory.mktemp("own_images"))
    r = Runs(root, tiny_clip_path)
    make_folders(r.data)
    env = script_env(DATA=r.data, WORK=root,
                     PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p))

    def script(layout, phase):
        r.out[layout] = osp.join(root, f"out_{layout}")
        opts = ["DATASET.IMAGE_FOLDER.DIR", FOLDERS[layout], "OPTIM.MAX_EPOCH", 1,
                "DATALOADER.NUM_WORKERS", 0, "TRAINER.ENPROMPT.CLIP_WEIGHTS", tiny_clip_path,
                "TRAINER.ENPROMPT.PREC", "fp32"]
        name = {"train_base": "base2new_train.sh", "test_new": "base2new_test.sh"}[phase]
        return start_script(name, "image_folder", 1, *opts, env=dict(env, OUTPUT=r.out[layout]))

    def done(layout, phase, process):
        stdout = finish_script(process)
        r.stdout[layout, phase], r.argv[layout, phase] = stdout, train_py_argv(stdout)

    training = {layout: script(layout, "train_base") for layout in FOLDERS}
    for layout, process in training.items():
        done(layout, "train_base", process)
    done("flat", "test_new", script("flat", "test_new"))
    return r


def trainer_logits(runs, layout, phase):
    """Logits, images and labels of the test set as the trainer evaluates it (built
    in-process from the arguments the script gave train.py), the base-trained
    checkpoint loaded, and its class names."""
    trainer = trainer_from_argv(runs.argv[layout, phase])
    trainer.load_model(runs.run_dir(layout, "train_base"), epoch=1)
    logits, labels = logits_on_test_set(trainer)
    paths = [item.impath for item in trainer.dm.dataset.test]  # the loader's order
    return logits.float(), paths, labels.tolist(), trainer.dm.dataset.classnames


@pytest.fixture(scope="module")
def model_file(runs, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "pets.safetensors")
    assert export_main([runs.run_dir("flat", "train_base"), path]) == 0
    return path


# ---------------------------------------------------------------- the scripts
@pytest.mark.parametrize("layout", ["flat", "given"])
def test_base2new_through_the_scripts(runs, layout):
    train_log = runs.stdout[layout, "train_base"]
    assert "--dataset-config-file configs/datasets/image_folder.yaml" in train_log
    assert "# classes  2" in train_log  # the base half of 4
    assert final_result(train_log)["total"] == 4  # base test images: 2 x 2 of either layout
    split_file = osp.join(runs.data, FOLDERS[layout], "split_image_folder.json")
    assert osp.isfile(split_file) == (layout == "flat")
    manifest = json.load(open(osp.join(runs.run_dir(layout, "train_base"), "manifest.json")))
    assert manifest["dataset"] == "ImageFolder" and manifest["status"] == "finished"
    assert manifest["classnames"] == ["golden retriever", "parrot"]
    if layout == "flat":
        test_log = runs.stdout[layout, "test_new"]
        assert "# classes  2" in test_log and final_result(test_log)["total"] == 4  # new classes


def test_protocol_folders_and_tables_of_an_image_folder(runs):
    assert runs.run_dir("flat", "train_base") == BASE2NEW_TRAIN.run_dir(runs.out["flat"], "image_folder", seed=1)
    assert runs.run_dir("flat", "test_new") == BASE2NEW_TEST.run_dir(runs.out["flat"], "image_folder", seed=1)
    (table,) = collect_tables(runs.out["flat"])
    (row, average) = table.rows
    base = final_result(runs.stdout["flat", "train_base"])["accuracy"]
    new = final_result(runs.stdout["flat", "test_new"])["accuracy"]
    assert row[0].key == "image_folder" and (row[1].mean, row[2].mean) == (base, new)
    assert not table.problems


# ---------------------------------------------------------------- the classifier
@pytest.mark.parametrize("layout", ["flat", "given"])
def test_predict_gives_the_predictions_behind_train_pys_accuracy(runs, layout):
    printed = final_result(runs.stdout[layout, "train_base"])
    logits, paths, labels, classnames = trainer_logits(runs, layout, "train_base")
    assert len(paths) == printed["total"]
    assert sum(int(p == y) for p, y in zip(logits.argmax(1).tolist(), labels)) == printed["correct"]

    clf = EnPromptClassifier.from_run(runs.run_dir(layout, "train_base"))
    assert clf.classes == classnames == ["golden retriever", "parrot"]
    preds = clf.predict(paths, top_k=2, batch_size=3)  # other batches than the trainer's
    assert [p.image for p in preds] == paths
    assert [p.index for p in preds] == logits.argmax(1).tolist()  # image by image
    assert [p.label for p in preds] == [classnames[i] for i in logits.argmax(1).tolist()]
    torch.testing.assert_close(clf.logits(paths), logits, rtol=0, atol=1e-4)
    expected = logits.softmax(1).sort(1, descending=True).values
    torch.testing.assert_close(torch.tensor([p.probs for p in preds]), expected, rtol=0, atol=1e-5)


def test_set_classes_equals_a_model_built_for_them_by_the_trainer(runs):
    logits, paths, labels, new_classes = trainer_logits(runs, "flat", "test_new")
    printed = final_result(runs.stdout["flat", "test_new"])
    assert sum(int(p == y) for p, y in zip(logits.argmax(1).tolist(), labels)) == printed["correct"]

    clf = EnPromptClassifier.from_run(runs.run_dir("flat", "train_base"))
    clf.set_classes(new_classes)
    assert clf.classes == ["tabby cat", "zebra"]
    torch.testing.assert_close(clf.logits(paths), logits, rtol=0, atol=1e-4)
    assert [p.index for p in clf.predict(paths, top_k=1)] == logits.argmax(1).tolist()

    # The evaluation run's own model: the base-trained one, with the new classes by default.
    evaluated = EnPromptClassifier.from_run(runs.run_dir("flat", "test_new"))
    assert evaluated.classes == new_classes and evaluated.trained_classes == new_classes
    torch.testing.assert_close(evaluated.logits(paths), logits, rtol=0, atol=1e-4)


def test_export_then_from_file_gives_identical_logits(runs, model_file):
    run_dir = runs.run_dir("flat", "train_base")
    images = sorted(osp.join(runs.data, "pets", c, n) for c in COLORS for n in ("0.jpg", "5.jpg"))
    from_run = EnPromptClassifier.from_run(run_dir)
    from_file = EnPromptClassifier.from_file(model_file)
    assert torch.equal(from_file.logits(images), from_run.logits(images))
    from_run.set_classes(["a bird", "a dog", "a cat"])
    from_file.set_classes(["a bird", "a dog", "a cat"])
    assert torch.equal(from_file.logits(images), from_run.logits(images))

    model = load_model_file(model_file)
    manifest = json.load(open(osp.join(run_dir, "manifest.json")))
    assert model.backbone == "ViT-B/16" and model.classnames == ["golden retriever", "parrot"]
    assert model.templates == ["a photo of a {}."]
    assert model.settings["PROMPT_DEPTH_VISION"] == 9 and "CLIP_WEIGHTS" not in model.settings
    assert model.clip_sha256 == file_sha256(runs.clip)
    assert model.source["run_id"] == manifest["run_id"]
    assert osp.getsize(model_file) < 1_000_000  # the learnables only (tiny CLIP: 46k parameters)
    with open(model_file, "rb") as f:  # safetensors: an 8-byte length, a JSON header, raw tensor bytes
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert set(header) == {"__metadata__", *model.state_dict} and not zipfile.is_zipfile(model_file)


def test_the_model_file_of_vit_b16_is_a_few_mb(tmp_path):
    from enprompt.inference import TrainedModel, save_model_file
    from enprompt.model import EnPromptLearner

    learner = EnPromptLearner(embed_dim=512, vision_width=768)  # ViT-B/16 widths, default settings
    model = TrainedModel("ViT-B/16", {}, ["a photo of a {}."], ["cat"], {"SIZE": [224, 224]}, None,
                         learner.state_dict())
    path = save_model_file(model, str(tmp_path / "vit_b16.safetensors"))
    assert 2 * 2**20 < osp.getsize(path) < 3 * 2**20  # 641,408 float32 learnables


def test_predict_command_line(runs, model_file, capsys):
    folder = osp.join(runs.data, "pets", "parrot")
    assert predict_main([model_file, folder, "--top-k", "1", "--batch-size", "4"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["image", "class", "prob"]
    assert len(out.splitlines()) == 2 + 6 and osp.join(folder, "0.jpg") in out
    assert "Predicting" in err  # the progress bar of a folder

    image = osp.join(folder, "1.jpg")
    assert predict_main([runs.run_dir("flat", "train_base"), image, "--json",
                         "--classes", "parrot, tabby cat,zebra"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["image"] == image and sorted(record["labels"]) == ["parrot", "tabby cat", "zebra"]
    assert sum(record["probs"]) == pytest.approx(1.0, abs=1e-5)

    assert predict_main([model_file, osp.join(folder, "missing.jpg")]) == 2
    assert 'Error: No such image file: "' in capsys.readouterr().err


# ---------------------------------------------------------------- bad inputs
def test_each_bad_input_gives_a_clear_error(runs, model_file, tmp_path):
    clf = EnPromptClassifier.from_file(model_file)
    with pytest.raises(FileNotFoundError, match=r'No such image file: "nope\.jpg"'):
        clf.predict(["nope.jpg"])
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("these are notes")
    with pytest.raises(ImageInputError, match=r'notes\.jpg" is not an image that can be read'):
        clf.predict([str(not_an_image)])
    with pytest.raises(ValueError, match="at least one class name, got an empty list"):
        clf.set_classes([])
    with pytest.raises(TypeError, match="needs a list of class names"):
        clf.set_classes("cat,dog")
    with pytest.raises(ImageInputError, match="must be \\(224, 224\\)"):
        clf.predict(torch.zeros(2, 3, 32, 32))
    with pytest.raises(TrainedModelError, match="is not an EnPrompt model file"):
        EnPromptClassifier.from_file(str(not_an_image))


def _save_clip(path, **changes):
    from clip.model import CLIP, convert_weights

    from enprompt.tiny_clip import ARCHITECTURES

    torch.manual_seed(1)
    model = CLIP(**{**ARCHITECTURES["tiny"], **changes})
    convert_weights(model)
    torch.save(model.state_dict(), path)
    return str(path)


def test_a_model_file_of_another_backbone_or_other_clip_weights(model_file, tmp_path):
    wider = _save_clip(tmp_path / "wider.pt", vision_width=128)
    with pytest.raises(TrainedModelError, match=r"It was trained on ViT-B/16, and the CLIP weights .*wider\.pt "
                                                r"are another model \(ViT image encoder: width 128.*--clip-weights"):
        EnPromptClassifier.from_file(model_file, clip_weights=wider)
    other = _save_clip(tmp_path / "other.pt")  # same architecture, other weights
    with pytest.raises(TrainedModelError, match=r"other\.pt \(SHA256 [0-9a-f]{64}\) are not the weights .* trained with"):
        EnPromptClassifier.from_file(model_file, clip_weights=other)


def test_a_run_folder_without_manifest(runs, tmp_path):
    legacy = tmp_path / "legacy_run"
    shutil.copytree(osp.join(runs.run_dir("flat", "train_base"), "prompt_learner"), legacy / "prompt_learner")
    with pytest.raises(RunWithoutManifestError, match=r"(?s)manifest\.json\" not found.*python -m enprompt.export .*from_file"):
        EnPromptClassifier.from_run(str(legacy))

    # The way out the error names: export it from the config of its training.
    argv = runs.argv["flat", "train_base"]
    flags = {argv[i]: argv[i + 1] for i in range(0, argv.index("--output-dir") + 2, 2)}
    out = str(tmp_path / "legacy.safetensors")
    assert export_main([str(legacy), out, "--root", flags["--root"], "--seed", flags["--seed"],
                        "--config-file", flags["--config-file"],
                        "--dataset-config-file", flags["--dataset-config-file"],
                        *argv[argv.index("--output-dir") + 2:]]) == 0
    exported = load_model_file(out)
    reference = load_model_file(EnPromptClassifier.from_run(runs.run_dir("flat", "train_base")).to_file(
        str(tmp_path / "reference.safetensors")))
    assert exported.classnames == reference.classnames and exported.templates == reference.templates
    assert exported.settings == reference.settings and exported.clip_sha256 == reference.clip_sha256
    assert all(torch.equal(exported.state_dict[k], reference.state_dict[k]) for k in reference.state_dict)


# ---------------------------------------------------------------- light and standalone
def test_works_without_dassl_and_without_the_dataset_folder(runs, tmp_path):
    image = str(tmp_path / "photo.jpg")
    shutil.copy(osp.join(runs.data, "pets", "zebra", "2.jpg"), image)
    hidden = runs.data + "_elsewhere"
    os.rename(runs.data, hidden)
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dassl', 'datasets', 'trainers'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from enprompt.predict import main\n"
        f"code = main([{runs.run_dir('flat', 'train_base')!r}, {image!r}, '--json'])\n"
        "print('engine modules:', sorted(m for m in sys.modules if m == 'enprompt.dassl'))\n"
        "sys.exit(code)\n"
    )
    try:
        result = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True,
                                text=True, env=child_env(PYTHONPATH=REPO))
    finally:
        os.rename(hidden, runs.data)
    assert_succeeded(result, "predict without Dassl and the dataset folder")
    record = json.loads(result.stdout.splitlines()[0])
    assert record["image"] == image and len(record["labels"]) == 2
    assert "engine modules: []" in result.stdout  # the Dassl switch was never imported


def test_import_enprompt_loads_no_torch():
    assert modules_loaded_by("import enprompt; dir(enprompt)", ["torch", "enprompt.inference"]) == []
    assert modules_loaded_by("from enprompt import EnPromptClassifier", ["enprompt.inference.classifier"]) \
        == ["enprompt.inference.classifier"]
