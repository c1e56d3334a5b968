"""The checks before a run is built (enprompt/preflight.py), one by one.

Through ``train.py`` on each engine, with what the user sees: the ``empty-root``,
``missing-root``, ``missing-dataset-folder``, ``images-not-in-class-folders``,
``unknown-trainer`` and ``missing-clip-weights`` cases of the fault suite.
"""
import pytest

from enprompt.config import add_enprompt_config
from enprompt.engine_choice import get_cfg_default
from enprompt.preflight import PreflightError, check_data_root, check_trainer, preflight
from tests.fake_data import make_dtd

TRAINERS = ["EnPrompt", "ZeroshotCLIP", "ZeroshotCLIP2"]


def _cfg(**values):
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    cfg.TRAINER.NAME, cfg.DATASET.NAME, cfg.MODEL.BACKBONE.NAME = "EnPrompt", "DescribableTextures", "ViT-B/16"
    for key, value in values.items():
        node, name = cfg, key.split(".")
        for part in name[:-1]:
            node = node[part]
        node[name[-1]] = value
    return cfg


@pytest.mark.parametrize("name, shown", [
    ("EnPromt", 'Unknown trainer "EnPromt" (--trainer, TRAINER.NAME). Did you mean EnPrompt?'),
    ("enprompt", "Did you mean EnPrompt?"),
    ("ZeroShotClip", "Did you mean ZeroshotCLIP?"),
    ("", "No trainer given: pass --trainer NAME (registered trainers: EnPrompt, ZeroshotCLIP, ZeroshotCLIP2)"),
])
def test_an_unknown_trainer_is_named_with_the_closest_registered_one(name, shown):
    with pytest.raises(PreflightError) as info:
        check_trainer(name, TRAINERS)
    assert shown in str(info.value)
    check_trainer("EnPrompt", TRAINERS)


def test_an_image_folder_given_by_its_absolute_path_needs_no_root(tmp_path):
    from enprompt.data.image_folder import image_folder_layout

    check_data_root(_cfg(**{"DATASET.ROOT": ""}), image_folder_layout(str(tmp_path)))
    with pytest.raises(PreflightError, match="The data root is empty"):
        check_data_root(_cfg(**{"DATASET.ROOT": ""}), image_folder_layout("photos"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(PreflightError, match=r'The data root ".*file" \(--root, DATASET.ROOT\) is a file'):
        check_data_root(_cfg(**{"DATASET.ROOT": str(tmp_path / "file")}))


def test_checks_run_in_order_and_a_ready_run_passes(tmp_path, tiny_clip_path):
    root = str(tmp_path / "data")
    make_dtd(root, n_classes=2, n_per_class=4, image_size=16)
    ready = _cfg(**{"DATASET.ROOT": root, "TRAINER.ENPROMPT.CLIP_WEIGHTS": tiny_clip_path})
    preflight(ready, TRAINERS)
    no_dataset = _cfg(**{"DATASET.ROOT": root, "DATASET.NAME": ""})
    with pytest.raises(PreflightError, match="No dataset given .*--dataset-config-file"):
        preflight(no_dataset, TRAINERS)
    missing_clip = _cfg(**{"DATASET.ROOT": root, "TRAINER.ENPROMPT.CLIP_WEIGHTS": str(tmp_path / "no.pt")})
    with pytest.raises(Exception, match=r"TRAINER.ENPROMPT.CLIP_WEIGHTS = .*no\.pt': no such file"):
        preflight(missing_clip, TRAINERS)
    both_wrong = _cfg(**{"DATASET.ROOT": str(tmp_path / "nope"), "TRAINER.NAME": "EnPromt"})
    with pytest.raises(PreflightError, match="Unknown trainer"):  # the trainer first
        preflight(both_wrong, TRAINERS)


def test_resume_needs_a_folder_with_a_checkpoint_unless_it_is_the_runs_own(tmp_path):
    from enprompt.preflight import FolderArgumentError, check_resume_folder

    run = tmp_path / "run"
    (run / "prompt_learner").mkdir(parents=True)
    with pytest.raises(FolderArgumentError, match=r'--resume ".*run" holds no checkpoint'):
        check_resume_folder(str(run), str(tmp_path / "other"))
    check_resume_folder(str(run), str(run))  # its own folder: the run-folder decision handles it
    (run / "prompt_learner" / "model.pth.tar-3").write_bytes(b"")
    check_resume_folder(str(run), str(tmp_path / "other"))
    with pytest.raises(FolderArgumentError, match=r'--resume ".*model.pth.tar-3" is a file, not a folder'):
        check_resume_folder(str(run / "prompt_learner" / "model.pth.tar-3"))
