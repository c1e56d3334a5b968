"""Learning-rate schedules: Dassl's per-epoch sequences, on current PyTorch."""
import io
import math

import pytest
import torch

from enprompt.engine import build_lr_scheduler, build_optimizer, get_cfg_default


def _optim_cfg(**kw):
    cfg = get_cfg_default()
    for k, v in kw.items():
        setattr(cfg.OPTIM, k, v)
    return cfg.OPTIM


def _lr_per_epoch(optim_cfg, n_epochs=None):
    param = torch.nn.Parameter(torch.zeros(1))
    optim = build_optimizer([param], optim_cfg)
    sched = build_lr_scheduler(optim, optim_cfg)
    lrs = []
    for _ in range(n_epochs or optim_cfg.MAX_EPOCH):
        lrs.append(optim.param_groups[0]["lr"])
        optim.step()  # one "epoch" of training
        sched.step()  # CoOp-family: update_lr() after the epoch's last batch
    return lrs


def test_maple_style_cosine_with_constant_warmup():
    # MaPLe base-to-novel: LR 0.0035, 5 epochs, 1 constant warm-up epoch at 1e-5.
    # Epoch 1 = 1e-5; epoch k >= 2 = LR * (1 + cos(pi * (k - 2) / 5)) / 2.
    cfg = _optim_cfg(NAME="sgd", LR=0.0035, MAX_EPOCH=5, LR_SCHEDULER="cosine",
                     WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    lrs = _lr_per_epoch(cfg)
    assert lrs == pytest.approx([1e-5, 0.0035, 0.003166, 0.002291, 0.001209], abs=5e-7)
    for k in range(2, 6):
        assert lrs[k - 1] == pytest.approx(0.0035 * (1 + math.cos(math.pi * (k - 2) / 5)) / 2, rel=1e-12)


def test_linear_warmup_then_cosine():
    cfg = _optim_cfg(NAME="sgd", LR=0.1, MAX_EPOCH=6, LR_SCHEDULER="cosine",
                     WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_MIN_LR=1e-4)
    lrs = _lr_per_epoch(cfg)
    # step 0: min_lr; step 1: base * 1/2; then the cosine starts from its beginning.
    assert lrs[:3] == pytest.approx([1e-4, 0.05, 0.1])
    assert lrs[3] == pytest.approx(0.1 * (1 + math.cos(math.pi / 6)) / 2)


def test_single_and_multi_step():
    single = _lr_per_epoch(_optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=5,
                                      LR_SCHEDULER="single_step", STEPSIZE=(2,), GAMMA=0.1))
    assert single == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    # STEPSIZE -1 means "MAX_EPOCH": no decay within the run.
    no_decay = _lr_per_epoch(_optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=3, LR_SCHEDULER="single_step"))
    assert no_decay == pytest.approx([1.0, 1.0, 1.0])
    multi = _lr_per_epoch(_optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=5,
                                     LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), GAMMA=0.5))
    assert multi == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])


def test_warmup_without_recount_preadvances_the_successor():
    # WARMUP_RECOUNT False: the cosine counter starts at WARMUP_EPOCH, as Dassl sets
    # scheduler.last_epoch = WARMUP_EPOCH before wrapping it.
    recount = _lr_per_epoch(_optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=4, LR_SCHEDULER="cosine",
                                       WARMUP_EPOCH=1, WARMUP_TYPE="constant"))
    no_recount = _lr_per_epoch(_optim_cfg(NAME="sgd", LR=1.0, MAX_EPOCH=4, LR_SCHEDULER="cosine",
                                          WARMUP_EPOCH=1, WARMUP_TYPE="constant",
                                          WARMUP_RECOUNT=False))
    assert recount[0] == no_recount[0] == pytest.approx(1e-5)
    assert no_recount[2] < recount[2]


def test_scheduler_state_is_weights_only_loadable_and_resumes_the_sequence():
    cfg = _optim_cfg(NAME="sgd", LR=0.0035, MAX_EPOCH=5, LR_SCHEDULER="cosine",
                     WARMUP_EPOCH=1, WARMUP_TYPE="constant")
    full = _lr_per_epoch(cfg)

    param = torch.nn.Parameter(torch.zeros(1))
    optim = build_optimizer([param], cfg)
    sched = build_lr_scheduler(optim, cfg)
    for _ in range(3):
        optim.step()
        sched.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optim.state_dict(), "scheduler": sched.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # Dassl's own state dict fails here

    param2 = torch.nn.Parameter(torch.zeros(1))
    optim2 = build_optimizer([param2], cfg)
    sched2 = build_lr_scheduler(optim2, cfg)
    optim2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    resumed = []
    for _ in range(2):
        resumed.append(optim2.param_groups[0]["lr"])
        optim2.step()
        sched2.step()
    assert resumed == pytest.approx(full[3:])


def test_unknown_scheduler_and_warmup_type_are_named():
    param = torch.nn.Parameter(torch.zeros(1))
    optim = torch.optim.SGD([param], lr=0.1)
    with pytest.raises(ValueError, match="LR_SCHEDULER.*'cosin'"):
        build_lr_scheduler(optim, _optim_cfg(LR_SCHEDULER="cosin"))
    with pytest.raises(ValueError, match="WARMUP_TYPE.*'exp'"):
        build_lr_scheduler(optim, _optim_cfg(LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="exp"))


def test_optimizer_choices_and_staged_lr():
    model = torch.nn.Sequential()
    model.add_module("backbone", torch.nn.Linear(2, 2))
    model.add_module("head", torch.nn.Linear(2, 2))
    cfg = _optim_cfg(NAME="sgd", LR=0.1, STAGED_LR=True, NEW_LAYERS=("head",), BASE_LR_MULT=0.1)
    optim = build_optimizer(model, cfg)
    assert [g["lr"] for g in optim.param_groups] == pytest.approx([0.01, 0.1])
    assert optim.param_groups[0]["momentum"] == 0.9 and optim.param_groups[0]["weight_decay"] == 5e-4
    assert isinstance(build_optimizer(model, _optim_cfg(NAME="adamw")), torch.optim.AdamW)
    with pytest.raises(ValueError, match="OPTIM.NAME.*'sgdd'"):
        build_optimizer(model, _optim_cfg(NAME="sgdd"))
