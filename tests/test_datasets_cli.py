"""``python -m enprompt.data check`` and ``download-splits`` (gdown is mocked: no network)."""
import io
import json
import os
import os.path as osp
import re
import subprocess
import sys
import zipfile

import pytest

from enprompt.data import LAYOUTS
from enprompt.data.__main__ import main
from tests.fake_data import make_dataset, make_dtd, read_dataset
from tests.paths import REPO

UCF_ZIP_ID = "10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O"
CLASSNAMES_ID = "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------
def test_check_passes_on_prepared_datasets(tmp_path, capsys):
    for name in ("dtd", "oxford_pets", "imagenet", "imagenet_a", "fgvc_aircraft"):
        fake = make_dataset(name, str(tmp_path))
        read_dataset(tmp_path, fake.reader)  # writes the split files where there are any
    code, out = _run(capsys, "check", "--root", str(tmp_path),
                     "dtd", "oxford_pets", "imagenet", "imagenet_a", "fgvc_aircraft")
    assert code == 0
    for name in ("dtd", "oxford_pets", "imagenet", "imagenet_a", "fgvc_aircraft"):
        assert f"{name}: ready" in out


def test_check_reports_what_is_missing(tmp_path, capsys):
    make_dtd(str(tmp_path))  # no split file yet
    make_dataset("imagenet", str(tmp_path), sort_val=False)
    code, out = _run(capsys, "check", "--root", str(tmp_path), "dtd", "imagenet", "eurosat")
    assert code == 1
    assert "dtd: NOT READY (docs/DATASETS.md#dtd)" in out
    assert "split_zhou_DescribableTextures.json: the published split file is missing" in out
    assert f"download-splits dtd --root {tmp_path}" in out
    assert "imagenet: NOT READY" in out and "must be sorted into one sub-folder per class" in out
    assert f"{tmp_path / 'eurosat'}: dataset folder not found" in out
    assert "3 dataset(s) not ready: dtd, imagenet, eurosat" in out


def test_check_finds_images_missing_from_the_split_file(tmp_path, capsys):
    fake = make_dtd(str(tmp_path))
    read_dataset(tmp_path, fake.reader)
    os.remove(osp.join(fake.dataset_dir, "images", "banded", "banded_0001.jpg"))
    code, out = _run(capsys, "check", "--root", str(tmp_path), "dtd")
    assert code == 1 and "1 of the 20 images it names are not on disk" in out
    code, out = _run(capsys, "check", "--quick", "--root", str(tmp_path), "dtd")
    assert code == 0  # --quick does not open the split file


def test_check_without_names_checks_all_15(tmp_path, capsys):
    code, out = _run(capsys, "check", "--root", str(tmp_path))
    assert code == 1
    assert all(f"{name}: NOT READY" in out for name in LAYOUTS)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(SystemExit, match="unknown dataset.*oxfordpets.*oxford_pets"):
        main(["check", "--root", str(tmp_path), "oxfordpets"])


def test_module_entry_point_runs(tmp_path):
    make_dtd(str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "enprompt.data", "check", "--quick", "--root", str(tmp_path), "dtd"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "dtd: ready" in result.stdout


# Runs ``python -m enprompt.data ARGS...`` in this interpreter and reports which
# heavy modules it imported.
_HEAVY_MODULES_RUNNER = """
import runpy, sys
sys.argv = ["enprompt.data", *sys.argv[1:]]
try:
    runpy.run_module("enprompt.data", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
heavy = ("torch", "torchvision", "sklearn", "numpy", "PIL", "enprompt.engine", "enprompt.dassl")
print("exit", code, "imported", sorted(m for m in heavy if m in sys.modules))
"""


def _run_cli_in_subprocess(argv, pythonpath):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    result = subprocess.run([sys.executable, "-c", _HEAVY_MODULES_RUNNER, *argv],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_download_and_check_commands_import_no_torch(tmp_path):
    fake = make_dtd(str(tmp_path / "data"))
    read_dataset(tmp_path / "data", fake.reader)  # writes the split file: `check` reads it
    out = _run_cli_in_subprocess(["check", "--root", str(tmp_path / "data"), "dtd"], [REPO])
    assert "dtd: ready" in out and out.endswith("exit 0 imported []\n"), out

    gdown = tmp_path / "fake_gdown" / "gdown.py"  # no network: writes a small JSON file
    gdown.parent.mkdir()
    gdown.write_text("def download(id=None, output=None, quiet=False, **kwargs):\n"
                     "    output.write(b'{\"train\": [], \"val\": [], \"test\": []}')\n"
                     "    return output\n")
    out = _run_cli_in_subprocess(["download-splits", "oxford_pets", "--root", str(tmp_path / "new")],
                                 [str(gdown.parent), REPO])
    assert (tmp_path / "new" / "oxford_pets" / "split_zhou_OxfordPets.json").is_file()
    assert out.endswith("exit 0 imported []\n"), out


# ---------------------------------------------------------------------------
# download-splits
# ---------------------------------------------------------------------------
def _ucf_zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("UCF-101-midframes/Apply_Eye_Makeup/v_ApplyEyeMakeup_g08_c01.jpg", b"jpeg")
    return buffer.getvalue()


@pytest.fixture
def fake_gdown(monkeypatch):
    """Replace gdown.download: writes plausible content for each Drive id, records calls."""
    gdown = pytest.importorskip("gdown", reason="gdown is an install requirement of enprompt")
    calls = []
    behaviour = {"mode": "ok"}

    def download(url=None, output=None, quiet=False, id=None, **kwargs):
        calls.append(id)
        if behaviour["mode"] == "fail":
            return None
        if id == UCF_ZIP_ID:
            content = _ucf_zip_bytes()
        elif id == CLASSNAMES_ID:
            content = b"n01440764 tench\nn01443537 goldfish\n"
        elif behaviour["mode"] == "html":
            content = b"<html>Google Drive - quota exceeded</html>"
        else:
            content = json.dumps({"id": id}).encode()
        if isinstance(output, str):
            with open(output, "wb") as f:
                f.write(content)
        else:  # an open binary file, as gdown accepts
            output.write(content)
        return output

    monkeypatch.setattr(gdown, "download", download)
    return calls, behaviour


def _leftovers(root):
    """Temporary files or folders (their names start with a dot) left behind."""
    return [osp.join(d, f) for d, dirs, files in os.walk(root) for f in files + dirs
            if f.startswith(".")]


def test_download_splits_fetches_each_file_once(tmp_path, fake_gdown, capsys):
    calls, _ = fake_gdown
    os.makedirs(tmp_path / "imagenet-adversarial")  # an ImageNet variant already extracted
    code, out = _run(capsys, "download-splits", "oxford_pets", "oxford_flowers", "ucf101",
                     "imagenet", "--root", str(tmp_path), "--quiet")
    assert code == 0
    assert sorted(calls) == sorted([
        LAYOUTS["oxford_pets"].downloads[0].file_id,
        *(f.file_id for f in LAYOUTS["oxford_flowers"].downloads),
        *(f.file_id for f in LAYOUTS["ucf101"].downloads),
        CLASSNAMES_ID,
    ])
    with open(tmp_path / "oxford_pets" / "split_zhou_OxfordPets.json") as f:
        assert json.load(f) == {"id": "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"}
    assert (tmp_path / "oxford_flowers" / "cat_to_name.json").is_file()
    assert (tmp_path / "oxford_flowers" / "split_zhou_OxfordFlowers.json").is_file()
    # UCF101 frames: extracted, archive removed
    assert (tmp_path / "ucf101" / "UCF-101-midframes" / "Apply_Eye_Makeup"
            / "v_ApplyEyeMakeup_g08_c01.jpg").is_file()
    assert not (tmp_path / "ucf101" / "UCF-101-midframes.zip").exists()
    # ImageNet's classnames.txt, also in the variant folder that exists
    assert (tmp_path / "imagenet" / "classnames.txt").read_text().startswith("n01440764 tench")
    assert (tmp_path / "imagenet-adversarial" / "classnames.txt").read_text() == (
        tmp_path / "imagenet" / "classnames.txt").read_text()
    assert not (tmp_path / "imagenet-rendition").exists()
    assert _leftovers(tmp_path) == []

    # second run: everything present, nothing downloaded
    calls.clear()
    code, out = _run(capsys, "download-splits", "oxford_pets", "ucf101", "imagenet",
                     "--root", str(tmp_path))
    assert code == 0 and calls == []
    assert "split_zhou_OxfordPets.json already present, skipped" in out
    assert "UCF-101-midframes already present, skipped" in out

    # a variant asked for later gets a copy of ImageNet's file, no download
    code, out = _run(capsys, "download-splits", "imagenet_r", "--root", str(tmp_path))
    assert code == 0 and calls == []
    assert (tmp_path / "imagenet-rendition" / "classnames.txt").is_file()


def test_downloaded_archive_is_extracted_without_downloading_again(tmp_path, fake_gdown, capsys):
    calls, _ = fake_gdown
    (tmp_path / "ucf101").mkdir()
    (tmp_path / "ucf101" / "UCF-101-midframes.zip").write_bytes(_ucf_zip_bytes())
    code, out = _run(capsys, "download-splits", "ucf101", "--root", str(tmp_path))
    assert code == 0
    assert calls == [LAYOUTS["ucf101"].downloads[1].file_id]  # only the split file
    assert (tmp_path / "ucf101" / "UCF-101-midframes" / "Apply_Eye_Makeup").is_dir()
    assert not (tmp_path / "ucf101" / "UCF-101-midframes.zip").exists()


def test_unsafe_archive_is_not_extracted(tmp_path, fake_gdown, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("UCF-101-midframes/ok.jpg", b"x")
        zf.writestr("../escaped.txt", b"x")
    (tmp_path / "ucf101").mkdir()
    (tmp_path / "ucf101" / "UCF-101-midframes.zip").write_bytes(buffer.getvalue())
    code = main(["download-splits", "ucf101", "--root", str(tmp_path)])
    assert code == 1 and "unsafe member '../escaped.txt'" in capsys.readouterr().err
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "ucf101" / "UCF-101-midframes").exists()


def test_download_splits_all(tmp_path, fake_gdown, capsys):
    calls, _ = fake_gdown
    code, out = _run(capsys, "download-splits", "all", "--root", str(tmp_path), "--quiet")
    assert code == 0
    assert len(calls) == 12  # 9 split files, cat_to_name, frames, classnames once
    assert "fgvc_aircraft: nothing is published on Google Drive" in out
    for name, layout in LAYOUTS.items():
        for drive_file in layout.downloads:
            assert (tmp_path / layout.folder / drive_file.target).exists(), (name, drive_file)


def test_failed_download_leaves_no_file(tmp_path, fake_gdown, capsys):
    _, behaviour = fake_gdown
    behaviour["mode"] = "fail"
    code = main(["download-splits", "dtd", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "downloading split_zhou_DescribableTextures.json failed" in err
    assert "https://drive.google.com/file/d/1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x" in err
    assert os.listdir(tmp_path / "dtd") == []


def test_error_page_instead_of_json_is_rejected(tmp_path, fake_gdown, capsys):
    _, behaviour = fake_gdown
    behaviour["mode"] = "html"
    code = main(["download-splits", "eurosat", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "is not valid JSON" in err
    assert os.listdir(tmp_path / "eurosat") == []


# ---------------------------------------------------------------------------
# The docs the errors link to
# ---------------------------------------------------------------------------
def _github_anchor(heading):
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def test_every_error_link_points_to_a_docs_section():
    with open(osp.join(REPO, "docs", "DATASETS.md"), encoding="utf-8") as f:
        anchors = {_github_anchor(line.lstrip("#")) for line in f if line.startswith("#")}
    for layout in LAYOUTS.values():
        assert layout.docs_anchor in anchors, layout.name
