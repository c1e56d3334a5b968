"""Dassl's documented algorithms, written out plainly, to check the code against."""
import random

__all__ = ["fewshot_reference"]


def fewshot_reference(items, k):
    """``DatasetBase.generate_fewshot_dataset(items, num_shots=k)`` as Dassl documents it:
    group by label in order of first appearance, then ``random.sample(group, k)``
    per group with the global RNG (the whole group if it is smaller)."""
    groups = {}
    for item in items:
        groups.setdefault(item.label, []).append(item)
    out = []
    for group in groups.values():
        out.extend(random.sample(group, k) if len(group) >= k else group)
    return out
