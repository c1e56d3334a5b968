"""A toy dataset and trainer registered in the engine, for the engine's own tests.

They exercise the loop, checkpoints, resume and evaluation without CLIP.
"""
import os
import os.path as osp

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

import enprompt.engine

TOY_CLASSES = ["red", "green", "blue"]
_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def make_toy_images(root, n_per_class=6, size=8):
    """Write ``root/toy/<class>/<i>.png``: noisy solid colours, one colour per class."""
    rng = np.random.RandomState(0)
    for cname in TOY_CLASSES:
        folder = osp.join(root, "toy", cname)
        os.makedirs(folder, exist_ok=True)
        for i in range(n_per_class):
            base = np.array(_COLOURS[cname], dtype=np.float32)
            pixels = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(osp.join(folder, f"{i:03d}.png"))
    return root


class MeanColourNet(nn.Module):
    """Linear classifier on an image's mean colour."""

    def __init__(self, num_classes):
        super().__init__()
        self.fc = nn.Linear(3, num_classes)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


_REGISTERED = {}


def register_toys(api=enprompt.engine):
    """Register ToyColours and ToyTrainer in ``api``'s registries (once per api).

    ``api`` is :mod:`enprompt.engine` (the engine's own tests) or
    :mod:`enprompt.dassl` (to run the same toy through the real Dassl).
    """
    if api.__name__ in _REGISTERED:
        return _REGISTERED[api.__name__]

    @api.DATASET_REGISTRY.register()
    class ToyColours(api.DatasetBase):
        """Three colour classes; train = test = all images (the engine tests need no split)."""

        dataset_dir = "toy"

        def __init__(self, cfg):
            root = osp.join(osp.abspath(osp.expanduser(cfg.DATASET.ROOT)), self.dataset_dir)
            items = []
            for label, cname in enumerate(TOY_CLASSES):
                for fname in sorted(os.listdir(osp.join(root, cname))):
                    impath = osp.join(root, cname, fname)
                    items.append(api.Datum(impath=impath, label=label, classname=cname))
            train = self.generate_fewshot_dataset(items, num_shots=cfg.DATASET.NUM_SHOTS)
            super().__init__(train_x=train, val=items, test=items)

    @api.TRAINER_REGISTRY.register()
    class ToyTrainer(api.TrainerX):
        """Linear classifier on the mean colour; steps the LR once per epoch like CoOp."""

        def build_model(self):
            self.model = MeanColourNet(self.num_classes).to(self.device)
            self.optim = api.build_optimizer(self.model, self.cfg.OPTIM)
            self.sched = api.build_lr_scheduler(self.optim, self.cfg.OPTIM)
            self.register_model("toy_head", self.model, self.optim, self.sched)

        def forward_backward(self, batch):
            image, label, _ = self.parse_batch_train(batch)
            output = self.model(image)
            loss = nn.functional.cross_entropy(output, label)
            self.model_backward_and_update(loss)
            if (self.batch_idx + 1) == self.num_batches:
                self.update_lr()
            return {"loss": loss.item(), "acc": api.compute_accuracy(output, label)[0].item()}

    _REGISTERED[api.__name__] = (ToyColours, ToyTrainer)
    return ToyColours, ToyTrainer


def toy_cfg(root, output_dir, api=enprompt.engine, **overrides):
    """A config for ToyTrainer on ToyColours (call ``cfg.freeze()`` before use)."""
    register_toys(api)
    cfg = api.get_cfg_default()
    cfg.DATASET.ROOT = root
    cfg.DATASET.NAME = "ToyColours"
    cfg.TRAINER.NAME = "ToyTrainer"
    cfg.OUTPUT_DIR = output_dir
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("normalize",)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.DATALOADER.TEST.BATCH_SIZE = 5
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.5
    cfg.OPTIM.MAX_EPOCH = 4
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.USE_CUDA = False
    cfg.SEED = 1
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = getattr(node, p)
        setattr(node, leaf, value)
    return cfg


def trained_weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
