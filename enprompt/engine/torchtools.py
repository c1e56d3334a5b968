"""Small PyTorch helpers of Dassl's ``dassl.utils.torchtools`` (the checkpoint
functions of that module are in :mod:`.checkpoint`)."""
import torch

__all__ = ["count_num_param", "check_finite_loss"]


def count_num_param(model=None, params=None):
    """Number of parameters of ``model`` (or of an iterable of tensors/param groups)."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is not None:
        total = 0
        for p in params:
            if isinstance(p, dict):
                total += sum(q.numel() for q in p["params"]) if isinstance(
                    p["params"], (list, tuple)) else p["params"].numel()
            else:
                total += p.numel()
        return total
    raise ValueError("count_num_param() needs a model or params")


def check_finite_loss(loss, terms=None, where="", advice=""):
    """Raise ``FloatingPointError`` if ``loss`` is NaN or infinite (Dassl's ``detect_anomaly``).

    Args:
        loss (Tensor): the loss about to be back-propagated.
        terms (dict, optional): ``{name: tensor or float}`` named in the
            message, e.g. each term of a composite loss (default: ``loss``).
        where (str): where training stopped, e.g. ``"at epoch 3/12, batch 1/3"``.
        advice (str): what the user can do, appended to the message.
    """
    if torch.isfinite(loss).all():
        return
    values = ", ".join(
        f"{name} = {float(torch.as_tensor(value).detach()):.4g}"
        for name, value in (terms or {"loss": loss}).items()
    )
    message = f"Loss is infinite or NaN{' ' + where if where else ''} ({values})."
    raise FloatingPointError(f"{message} {advice}" if advice else message)
