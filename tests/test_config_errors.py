"""Merging a user's config files and options: one error naming the key, the closest valid
keys, and for a wrong type the type expected with a valid example (enprompt/config_errors.py).

Through ``train.py`` on each engine: the ``misspelt-option``, ``misspelt-yaml-key``,
``lowercase-bool``, ``word-for-a-number``, ``tab-in-yaml`` and ``empty-config-file``
cases of the fault suite (tests/fault_cases.py).
"""
import argparse

import pytest

from enprompt.config import add_enprompt_config
from enprompt.config_errors import ConfigError, ConfigFileNotFound, merge_config_file, merge_opts
from enprompt.engine_choice import get_cfg_default
from tests.paths import DTD_CFG


@pytest.fixture
def cfg():
    cfg = get_cfg_default()
    add_enprompt_config(cfg)
    return cfg


def _yaml(tmp_path, text, name="method.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("key, closest", [
    ("OPTIM.MAX_EPOCHS", "OPTIM.MAX_EPOCH"),
    ("optim.max_epoch", "OPTIM.MAX_EPOCH"),
    ("TRAINER.ENPROMPT.N_CTX_VISON", "TRAINER.ENPROMPT.N_CTX_VISION"),
    ("TRAIN.MAX_EPOCH", "OPTIM.MAX_EPOCH"),
])
def test_a_misspelt_key_names_itself_and_the_closest_valid_key(cfg, tmp_path, key, closest):
    with pytest.raises(ConfigError) as option:
        merge_opts(cfg, [key, "5"])
    assert str(option.value).startswith(
        f"Invalid command-line option: unknown config key {key}. Did you mean {closest}?")
    head, _, last = key.rpartition(".")
    text = "".join(f"{'  ' * i}{part}:\n" for i, part in enumerate(head.split("."))) + \
        f"{'  ' * len(head.split('.'))}{last}: 5\n"
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as file:
        merge_config_file(cfg, path)
    assert str(file.value).startswith(
        f'Invalid config file "{path}": unknown config key {key}. Did you mean {closest}?')


def test_a_key_far_from_any_lists_the_keys_of_its_group(cfg):
    with pytest.raises(ConfigError, match=r"OPTIM.ZZZ, and no valid key is close to it\. "
                                          r"The keys of OPTIM are: .*\bLR\b.*MAX_EPOCH"):
        merge_opts(cfg, ["OPTIM.ZZZ", "1"])


@pytest.mark.parametrize("key, value, expected", [
    ("TEST.NO_TEST", "false", "expects a boolean (True or False, capitalised)"),
    ("OPTIM.MAX_EPOCH", "five", "expects an integer"),
    ("OPTIM.LR", "1", "expects a number with a decimal point (1.0, not 1)"),
    ("INPUT.SIZE", "224", "expects a list of values"),
])
def test_a_value_of_the_wrong_type_names_the_type_and_a_valid_example(cfg, key, value, expected):
    with pytest.raises(ConfigError) as info:
        merge_opts(cfg, [key, value])
    message = str(info.value)
    assert f"{key} = " in message and expected in message, message
    example = message.split("A valid value: ", 1)[1]
    assert example.startswith(key + " ")
    merge_opts(cfg, [key, example[len(key) + 1:].strip('"')])  # the example is valid


def test_a_wrong_type_in_a_file_names_the_file_and_a_yaml_example(cfg, tmp_path):
    path = _yaml(tmp_path, "OPTIM:\n  MAX_EPOCH: five\n")
    with pytest.raises(ConfigError, match=r'^Invalid config file ".*method\.yaml": OPTIM\.MAX_EPOCH = '
                       r"'five' is text, but OPTIM\.MAX_EPOCH expects an integer\. A valid value: "
                       r"MAX_EPOCH: 10 \(under OPTIM:\)$"):
        merge_config_file(cfg, path)


def test_yaml_problems_name_the_file_and_line(cfg, tmp_path):
    tab = _yaml(tmp_path, "OPTIM:\n  LR: 0.01\n\tMAX_EPOCH: 5\n", "tab.yaml")
    with pytest.raises(ConfigError, match=r'^Cannot read config file ".*tab\.yaml", line 3, column 1: '
                                          r"YAML does not allow tabs; indent with spaces\.$"):
        merge_config_file(cfg, tab)
    empty = _yaml(tmp_path, "\n# nothing\n", "empty.yaml")
    with pytest.raises(ConfigError, match=r'^--dataset-config-file ".*empty\.yaml" is empty'):
        merge_config_file(cfg, empty, "--dataset-config-file")
    listed = _yaml(tmp_path, "- OPTIM\n", "list.yaml")
    with pytest.raises(ConfigError, match=r"list\.yaml\": it holds list \['OPTIM'\], expected KEY: value"):
        merge_config_file(cfg, listed)
    with pytest.raises(ConfigFileNotFound, match=r'^--config-file ".*missing\.yaml" does not exist$'):
        merge_config_file(cfg, str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="options come in KEY VALUE pairs, and 'OPTIM.LR' has no value"):
        merge_opts(cfg, ["OPTIM.LR"])


def test_valid_files_and_options_merge_as_yacs_merges_them(cfg, tmp_path):
    path = _yaml(tmp_path, "OPTIM:\n  LR: 0.5\n  MAX_EPOCH: 7\nINPUT:\n  SIZE: [32, 32]\nTEST:\n  NO_TEST: true\n")
    opts = ["DATASET.NUM_SHOTS", "2", "TRAINER.ENPROMPT.PREC", "fp32", "INPUT.SIZE", "(64, 64)"]
    reference = cfg.clone()
    reference.merge_from_file(DTD_CFG)
    merge_config_file(cfg, DTD_CFG)
    reference.merge_from_file(path)
    reference.merge_from_list(opts)
    merge_config_file(cfg, path)
    merge_opts(cfg, opts)
    assert cfg == reference
    assert cfg.OPTIM.MAX_EPOCH == 7 and cfg.TEST.NO_TEST is True and cfg.INPUT.SIZE == (64, 64)


def test_the_export_command_merges_through_the_same_checks(tmp_path):
    from enprompt.export import _legacy_cfg

    args = argparse.Namespace(dataset_config_file=DTD_CFG, config_file=_yaml(tmp_path, "OPTIM:\n  LR: 0.1\n"),
                              root="", seed=None, opts=["OPTIM.MAX_EPOCHS", "5"])
    with pytest.raises(ConfigError, match="unknown config key OPTIM.MAX_EPOCHS. Did you mean OPTIM.MAX_EPOCH?"):
        _legacy_cfg(args)
