"""A toy dataset and trainer registered in the engine, for the engine's own tests.

They exercise the loop, checkpoints, resume and evaluation without CLIP:
``make_toy_images(root)`` writes the images, ``register_toys(api)`` registers
``ToyColours`` and ``ToyTrainer``, ``toy_cfg(root, output_dir, **overrides)``
is the config that runs them.
"""
import os
import os.path as osp

import numpy as np
import torch.nn as nn
from PIL import Image

import enprompt.engine
from tests.configs import make_cfg

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


TOY_OPTS = (
    "DATASET.NAME", "ToyColours", "TRAINER.NAME", "ToyTrainer",
    "INPUT.SIZE", (8, 8), "INPUT.TRANSFORMS", ("normalize",),
    "DATALOADER.NUM_WORKERS", 0, "DATALOADER.TRAIN_X.BATCH_SIZE", 4, "DATALOADER.TEST.BATCH_SIZE", 5,
    "OPTIM.NAME", "sgd", "OPTIM.LR", 0.5, "OPTIM.MAX_EPOCH", 4, "OPTIM.LR_SCHEDULER", "cosine",
    "OPTIM.WARMUP_EPOCH", 1, "OPTIM.WARMUP_TYPE", "constant",
    "USE_CUDA", False, "SEED", 1,
)


def toy_cfg(root, output_dir, api=enprompt.engine, **overrides):
    """A config for ToyTrainer on ToyColours (call ``cfg.freeze()`` before use).

    ``overrides``: ``{"KEY.NAME": value}``, merged after :data:`TOY_OPTS`.
    """
    register_toys(api)
    opts = [*TOY_OPTS, "DATASET.ROOT", root, "OUTPUT_DIR", output_dir]
    for key, value in overrides.items():
        opts += [key, value]
    return make_cfg(*opts, engine=api, enprompt_keys=False)
