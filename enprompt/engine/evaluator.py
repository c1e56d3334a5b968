"""Evaluators (``dassl.evaluation``): the ``Classification`` evaluator and its registry."""
import os.path as osp
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score

from enprompt import distributed
from enprompt.fileio import atomic_write

from .registry import Registry, check_availability

__all__ = ["EVALUATOR_REGISTRY", "EvaluatorBase", "Classification", "build_evaluator"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg, **kwargs):
    """Build the evaluator named by ``cfg.TEST.EVALUATOR``."""
    check_availability(cfg.TEST.EVALUATOR, EVALUATOR_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading evaluator: {cfg.TEST.EVALUATOR}")
    return EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)(cfg, **kwargs)


class EvaluatorBase:
    """Interface: ``reset()``, ``process(output, target)`` per batch, ``evaluate()``."""

    def __init__(self, cfg):
        self.cfg = cfg

    def reset(self):
        raise NotImplementedError

    def process(self, mo, gt):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error and macro-F1 over all processed batches.

    ``evaluate()`` prints Dassl's six-line ``=> result`` block (one decimal)
    and returns an ``OrderedDict`` whose first value (accuracy) is what
    ``trainer.test()`` returns.

    In a data-parallel run each process has processed its shard of the
    images; ``evaluate()`` first gathers the labels and predictions of all
    shards, so every process reports the result of the whole set, the one a
    single process reports (the counts and macro-F1 do not depend on order).
    """

    def __init__(self, cfg, lab2cname=None, **kwargs):
        super().__init__(cfg)
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs the label-to-classname mapping")
        self._lab2cname = lab2cname
        self.reset()

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list) if self.cfg.TEST.PER_CLASS_RESULT else None
        self._gathered = False

    def process(self, mo, gt):
        """Args: mo (Tensor): logits ``[B, C]``; gt (LongTensor): labels ``[B]``."""
        pred = mo.max(1)[1]
        matches = pred.eq(gt).int()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        y_true = gt.cpu().tolist()
        self._y_true.extend(y_true)
        self._y_pred.extend(pred.cpu().tolist())
        if self._per_class_res is not None:
            for label, match in zip(y_true, matches.cpu().tolist()):
                self._per_class_res[label].append(match)

    def _gather_shards(self):
        """Replace this process's counts by those of every process's shard (once)."""
        if self._gathered or not distributed.is_distributed():
            return
        pairs = torch.tensor([self._y_true, self._y_pred], dtype=torch.int64).t()  # [n, 2]
        pairs = distributed.all_gather_rows(pairs)
        y_true, y_pred = pairs[:, 0].tolist(), pairs[:, 1].tolist()
        self.reset()
        self._y_true, self._y_pred = y_true, y_pred
        self._total = len(y_true)
        self._correct = sum(int(t == p) for t, p in zip(y_true, y_pred))
        if self._per_class_res is not None:
            for label, pred in zip(y_true, y_pred):
                self._per_class_res[label].append(int(label == pred))
        self._gathered = True

    def evaluate(self):
        self._gather_shards()
        if self._total == 0:
            raise RuntimeError("Classification.evaluate() called before any batch was processed")
        results = OrderedDict()
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * f1_score(
            self._y_true, self._y_pred, average="macro", labels=np.unique(self._y_true)
        )
        results["accuracy"] = acc
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )

        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                correct, total = sum(res), len(res)
                class_acc = 100.0 * correct / total
                accs.append(class_acc)
                print(
                    f"* class: {label} ({self._lab2cname[label]})\t"
                    f"total: {total:,}\tcorrect: {correct:,}\tacc: {class_acc:.1f}%"
                )
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc

        if self.cfg.TEST.COMPUTE_CMAT and distributed.is_main_process():
            cmat = confusion_matrix(self._y_true, self._y_pred, normalize="true")
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            with atomic_write(save_path, "wb") as f:
                torch.save(torch.from_numpy(cmat), f)
            print(f"Confusion matrix is saved to {save_path}")

        return results
