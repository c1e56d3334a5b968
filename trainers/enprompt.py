"""EnPrompt: "Advancing Prompt Learning through an External Layer" (ACM MM 2024).

A frozen CLIP ViT is adapted with very few trainable parameters:

1. the class text features ``T`` come from hand-crafted templates through the
   frozen text encoder, once per class list;
2. an External Layer ``EnLa`` on top of them gives the text side its capacity;
3. learnable visual tokens ``P_j``, fused with a strengthening feature
   ``G_j(s)`` derived from ``EnLa(T)``, prompt the first J image-encoder layers;
4. logits are CLIP's cosine logits between the image feature and ``EnLa(T)``;
5. the loss is ``L_CE + lambda · L_OT``, with ``L_OT`` the entropic optimal
   transport cost between the image features of a batch and the EnLa text
   features of their labels.

Only ``EnLa``, ``P_j`` and ``G_j`` are learned and checkpointed (registered as
``prompt_learner``), so a model trained on base classes is evaluated on new
classes by rebuilding it for them and loading the same checkpoint.

Drop-in use in another CoOp-family repository: copy this file to its
``trainers/``, ``import trainers.enprompt`` in its ``train.py`` and call
``enprompt.config.add_enprompt_config(cfg)`` in its ``extend_cfg``.
"""
import os
import os.path as osp

import torch

from enprompt.clip_loader import load_clip_for_run
from enprompt.config import check_enprompt_cfg
from enprompt.dassl import (
    TRAINER_REGISTRY,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
    compute_accuracy,
    load_checkpoint,
)
from enprompt.model import autocast_for, build_enprompt_model

__all__ = ["EnPrompt"]


def _checkpoint_files(folder):
    if not osp.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if f.startswith("model") and ".pth.tar" in f)


def _check_state_dict_matches(module, state_dict, path):
    """Raise ValueError unless ``state_dict`` has exactly ``module``'s keys and shapes."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and tuple(state_dict[key].shape) != tuple(value.shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    details = []
    if mismatched:
        details.append("shape mismatch: " + "; ".join(mismatched))
    if missing:
        details.append(f"missing from the checkpoint: {missing}")
    if unexpected:
        details.append(f"not in this model: {unexpected}")
    raise ValueError(
        f'The checkpoint "{path}" does not fit this EnPrompt model ({" | ".join(details)}). '
        "It was trained with another backbone, another trainer, or other "
        "TRAINER.ENPROMPT settings (N_CTX_VISION, PROMPT_DEPTH_VISION, ENLA.*, SF.*); "
        "evaluate it with the same --config-file and MODEL.BACKBONE.NAME as in training."
    )


def _check_checkpoint_meta(saved, current, path):
    """Raise ValueError if the checkpoint names another trainer or backbone.

    Checkpoints without ``meta`` (written elsewhere) are checked by shape only.
    """
    if not saved:
        return
    for key in ("trainer", "backbone"):
        if key in saved and saved[key] != current[key]:
            raise ValueError(
                f'The checkpoint "{path}" was trained with {key} {saved[key]!r}, but this '
                f"run uses {current[key]!r}. Evaluate it with the same "
                f"{'--trainer' if key == 'trainer' else 'MODEL.BACKBONE.NAME (--backbone)'} "
                "as in training."
            )


@TRAINER_REGISTRY.register()
class EnPrompt(TrainerX):
    """EnPrompt trainer (see the module docstring and docs/METHOD.md)."""

    def check_cfg(self, cfg):
        check_enprompt_cfg(cfg)

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames

        clip_model, self.precision = load_clip_for_run(cfg, self.device)
        check_enprompt_cfg(cfg, clip_model)

        print("Building EnPrompt (CLIP frozen; learning EnLa, visual prompts, strengthening projections)")
        self.model = build_enprompt_model(cfg, clip_model, classnames, device=self.device)
        learnable = self.model.prompt_learner
        n_params = sum(p.numel() for p in learnable.parameters())
        print(f"Parameters to be updated: {sorted(n for n, _ in learnable.named_parameters())}")
        print(f"# learnable params: {n_params:,}")

        self.optim = build_optimizer(learnable, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", learnable, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "amp" else None

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        with autocast_for(self.precision, self.device):
            output = self.model(image, label)  # logits, loss_ce, loss_ot, loss
        loss = output["loss"]
        # Stop on a NaN/inf loss before any update, naming each term.
        self.detect_anomaly(loss, terms={k: output[k] for k in ("loss", "loss_ce", "loss_ot")})
        if self.scaler is not None:
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
        else:
            self.model_backward_and_update(loss)

        loss_summary = {
            "loss": loss.item(),
            "loss_ce": output["loss_ce"].item(),
            "loss_ot": output["loss_ot"].item(),
            "acc": compute_accuracy(output["logits"], label)[0].item(),
        }
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return loss_summary

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def model_inference(self, input):
        with autocast_for(self.precision, self.device):
            return self.model(input)

    def load_model(self, directory, epoch=None):
        """Load ``<directory>/prompt_learner/model.pth.tar-<epoch>`` (or
        ``model-best.pth.tar`` when ``epoch`` is None) into this model, which
        may be built for other classes than the checkpoint was trained on."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        if not osp.isdir(directory):
            raise FileNotFoundError(
                f'Model directory "{directory}" does not exist. Pass the --output-dir '
                "of a finished EnPrompt training run as --model-dir."
            )
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            folder = osp.join(directory, name)
            model_path = osp.join(folder, model_file)
            if not osp.isfile(model_path):
                available = _checkpoint_files(folder)
                hint = (
                    f"available in {folder}: {available}; pass --load-epoch N for model.pth.tar-N"
                    if available
                    else f"{folder} holds no checkpoint; was {directory} trained with the "
                    "EnPrompt trainer and did the training finish?"
                )
                raise FileNotFoundError(f'No checkpoint "{model_path}" ({hint})')
            checkpoint = load_checkpoint(model_path)
            _check_checkpoint_meta(checkpoint.get("meta"), self.checkpoint_meta(), model_path)
            state_dict = checkpoint["state_dict"]
            _check_state_dict_matches(self._models[name], state_dict, model_path)
            print(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})')
            self._models[name].load_state_dict(state_dict, strict=True)
