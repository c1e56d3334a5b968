"""TRAINER.ENPROMPT keys: defaults, idempotence, and the checks' messages."""
import re

import pytest
from yacs.config import CfgNode as CN

from enprompt.choices import CHOICES
from enprompt.config import add_enprompt_config, check_enprompt_cfg
from enprompt.model import cast_clip_weights
from tests.child_process import modules_loaded_by
from tests.configs import make_cfg

DEFAULTS = {
    "N_CTX_VISION": 4,
    "PROMPT_DEPTH_VISION": 9,
    "PREC": "fp16",
    "TEMPLATES": "custom",
    "CLIP_WEIGHTS": "",
    "ENLA.ENABLE": True,
    "ENLA.REDUCTION": 4,
    "SF.ENABLE": True,
    "SF.RANK": 64,
    "OT.ENABLE": True,
    "OT.WEIGHT": 1.0,
    "OT.EPS": 0.1,
    "OT.ITERS": 100,
    "OT.SOLVER": "sinkhorn",
}


def _get(node, dotted):
    for part in dotted.split("."):
        node = node[part]
    return node


def test_defaults():
    cfg = make_cfg()
    for key, value in DEFAULTS.items():
        assert _get(cfg.TRAINER.ENPROMPT, key) == value, key
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    check_enprompt_cfg(cfg)


def test_adding_twice_keeps_values_and_works_on_a_bare_node():
    cfg = make_cfg("TRAINER.ENPROMPT.N_CTX_VISION", 2, "DATASET.SUBSAMPLE_CLASSES", "base")
    add_enprompt_config(cfg)
    assert cfg.TRAINER.ENPROMPT.N_CTX_VISION == 2
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "base"
    bare = add_enprompt_config(CN())
    assert bare.TRAINER.ENPROMPT.OT.SOLVER == "sinkhorn"


def test_every_key_has_a_comment():
    import inspect

    import enprompt.config as config

    source = inspect.getsource(config.add_enprompt_config).splitlines()
    for i, line in enumerate(source):
        if "_default(" in line and "def " not in line:
            assert source[i - 1].strip().startswith("#"), f"no comment above: {line.strip()}"


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("PREC", "fp8", r"PREC = 'fp8'.*\['fp16', 'fp32', 'amp', 'bf16'\]"),
        ("TEMPLATES", "all", r"TEMPLATES = 'all'.*\['custom', 'ensemble'\]"),
        ("OT.SOLVER", "emd", r"OT.SOLVER = 'emd'.*\['sinkhorn', 'pot'\]"),
        ("N_CTX_VISION", -1, r"N_CTX_VISION = -1.*integer >= 0"),
        ("ENLA.REDUCTION", 0, r"ENLA.REDUCTION = 0.*integer >= 1"),
        ("SF.RANK", -2, r"SF.RANK = -2.*integer >= 0"),
        ("OT.WEIGHT", -0.5, r"OT.WEIGHT = -0.5.*>= 0"),
        ("OT.EPS", 0.01, r"OT.EPS = 0.01.*>= 0.025"),
        ("OT.ITERS", 0, r"OT.ITERS = 0.*integer >= 1"),
    ],
)
def test_bad_values_name_key_value_and_allowed(key, value, message):
    cfg = make_cfg(f"TRAINER.ENPROMPT.{key}", value)
    with pytest.raises(ValueError, match=message):
        check_enprompt_cfg(cfg)


def test_inconsistent_prompt_settings():
    with pytest.raises(ValueError, match="PROMPT_DEPTH_VISION = 9.*N_CTX_VISION > 0"):
        check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.N_CTX_VISION", 0))
    with pytest.raises(ValueError, match="N_CTX_VISION = 4.*no effect"):
        check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0, "TRAINER.ENPROMPT.SF.ENABLE", False))
    with pytest.raises(ValueError, match="SF.ENABLE.*SF.ENABLE False"):
        check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0, "TRAINER.ENPROMPT.N_CTX_VISION", 0))
    check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 0, "TRAINER.ENPROMPT.N_CTX_VISION", 0,
                                "TRAINER.ENPROMPT.SF.ENABLE", False))


def test_checks_against_the_loaded_backbone(tiny_clip):
    clip_model = cast_clip_weights(tiny_clip, "fp32")  # 12 layers, 224 px, D = 64
    check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 12), clip_model)
    with pytest.raises(ValueError, match="PROMPT_DEPTH_VISION = 13.*12 layers"):
        check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PROMPT_DEPTH_VISION", 13), clip_model)
    with pytest.raises(ValueError, match=r"INPUT.SIZE = \(336, 336\).*\(224, 224\)"):
        check_enprompt_cfg(make_cfg("INPUT.SIZE", "(336, 336)"), clip_model)
    with pytest.raises(ValueError, match="ENLA.REDUCTION = 128.*D = 64"):
        check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.ENLA.REDUCTION", 128), clip_model)


def test_importing_the_config_loads_neither_torch_nor_clip():
    assert modules_loaded_by("import enprompt.config", ("torch", "clip")) == []


def _zeroshot_check_cfg(prec):
    from trainers.zsclip import ZeroshotCLIP

    cfg = make_cfg()
    cfg.TRAINER.ENPROMPT.PREC = prec
    ZeroshotCLIP.check_cfg(None, cfg)


def _subsample(value):
    from enprompt.data.subsample import subsample_classes

    subsample_classes([], subsample=value)


def _checkers():
    from enprompt.model import OTAlignmentLoss, resolve_precision
    from enprompt.templates import get_templates

    return [
        ("TRAINER.ENPROMPT.PREC", lambda v: check_enprompt_cfg(make_cfg("TRAINER.ENPROMPT.PREC", v))),
        ("TRAINER.ENPROMPT.PREC", lambda v: resolve_precision(v, "cpu")),
        ("TRAINER.ENPROMPT.PREC", lambda v: cast_clip_weights(None, v)),
        ("TRAINER.ENPROMPT.PREC", _zeroshot_check_cfg),
        ("TRAINER.ENPROMPT.TEMPLATES", lambda v: get_templates("DescribableTextures", v)),
        ("TRAINER.ENPROMPT.OT.SOLVER", lambda v: OTAlignmentLoss(solver=v)),
        ("DATASET.SUBSAMPLE_CLASSES", lambda v: check_enprompt_cfg(make_cfg("DATASET.SUBSAMPLE_CLASSES", v))),
        ("DATASET.SUBSAMPLE_CLASSES", _subsample),
        ("TEST.FINAL_MODEL", lambda v: check_enprompt_cfg(make_cfg("TEST.FINAL_MODEL", v))),
        ("TEST.SPLIT", lambda v: check_enprompt_cfg(make_cfg("TEST.SPLIT", v))),
    ]


def test_every_checker_of_a_choice_uses_the_one_set_and_message():
    for key, checker in _checkers():
        expected = f"{key} = 'bogus' is invalid: allowed values are {list(CHOICES[key])}"
        with pytest.raises(ValueError, match=re.escape(expected)):
            checker("bogus")
