"""Accuracy metric (``dassl.metrics.compute_accuracy``)."""
__all__ = ["compute_accuracy"]


def compute_accuracy(output, target, topk=(1,)):
    """Top-k accuracy in percent.

    Args:
        output (Tensor): logits ``[B, C]`` (or a tuple/list whose first item is).
        target (LongTensor): labels ``[B]``.
        topk (tuple of int): the k values.

    Returns:
        list of 1-element tensors, one per k.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand(maxk, -1))
    return [
        correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / batch_size)
        for k in topk
    ]
