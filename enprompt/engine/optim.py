"""Optimiser builder with Dassl's options (``dassl.optim.optimizer``)."""
import torch
import torch.nn as nn

__all__ = ["AVAI_OPTIMS", "build_optimizer"]

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]


def _staged_param_groups(model, new_layers, lr, base_lr_mult):
    """Children named in ``new_layers`` get ``lr``; all others ``lr * base_lr_mult``."""
    if not isinstance(model, nn.Module):
        raise TypeError("OPTIM.STAGED_LR needs an nn.Module given to build_optimizer()")
    if isinstance(model, nn.DataParallel):
        model = model.module
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    base_params, new_params = [], []
    for name, module in model.named_children():
        (new_params if name in new_layers else base_params).extend(module.parameters())
    return [{"params": base_params, "lr": lr * base_lr_mult}, {"params": new_params}]


def build_optimizer(model, optim_cfg, param_groups=None):
    """Build the optimiser that ``optim_cfg`` (the ``OPTIM`` node) describes.

    Args:
        model (nn.Module or iterable): the model, or an iterable of parameters.
        optim_cfg (CfgNode): ``cfg.OPTIM``.
        param_groups (list, optional): parameter groups to use instead of ``model``.
    """
    name = optim_cfg.NAME
    lr = optim_cfg.LR
    weight_decay = optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name not in AVAI_OPTIMS:
        raise ValueError(f"OPTIM.NAME must be one of {AVAI_OPTIMS}, but got {name!r}")

    if param_groups is None:
        if optim_cfg.STAGED_LR:
            param_groups = _staged_param_groups(
                model, optim_cfg.NEW_LAYERS, lr, optim_cfg.BASE_LR_MULT
            )
        elif isinstance(model, nn.Module):
            param_groups = model.parameters()
        else:
            param_groups = model

    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(
            param_groups, lr=lr, weight_decay=weight_decay, betas=betas,
            amsgrad=name == "amsgrad",
        )
    if name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=weight_decay,
            alpha=optim_cfg.RMSPROP_ALPHA,
        )
    if name == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
