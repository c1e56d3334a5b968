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
import torch

from enprompt.clip_loader import load_clip_for_run
from enprompt.config import check_enprompt_cfg
from enprompt.dassl import (
    TRAINER_REGISTRY,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
    compute_accuracy,
    count_num_param,
)
from enprompt.distributed import data_parallel, is_distributed
from enprompt.model import autocast_for, build_enprompt_model, compile_enprompt

__all__ = ["EnPrompt", "enprompt_step"]

LOSS_TERMS = ("loss", "loss_ce", "loss_ot")


def enprompt_step(model, optimizer, scaler, image, label, precision, check_loss):
    """One optimisation step of EnPrompt; the benchmark times this same function.

    ``zero_grad``, then the forward under the precision's autocast (the model
    returns the logits and ``loss = L_CE + lambda * L_OT``), ``check_loss(loss,
    terms)`` (a NaN or infinite loss stops training, naming each term), the
    loss terms and the batch accuracy read back to the host, then backward and
    the optimizer step, through ``scaler`` (a ``GradScaler``) under ``amp``.
    The update comes last, so a step that fails before it changed nothing
    (a compiled step that fails is run again eagerly, see
    :meth:`enprompt.model.CompiledEnPrompt.step`).

    Returns:
        dict: ``loss``, ``loss_ce``, ``loss_ot`` and the batch accuracy ``acc``.
    """
    optimizer.zero_grad()
    with autocast_for(precision, image.device):
        output = model(image, label)  # logits, loss_ce, loss_ot, loss
    loss = output["loss"]
    check_loss(loss, {name: output[name] for name in LOSS_TERMS})
    summary = {name: output[name].item() for name in LOSS_TERMS}
    summary["acc"] = compute_accuracy(output["logits"], label)[0].item()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return summary


@TRAINER_REGISTRY.register()
class EnPrompt(TrainerX):
    """EnPrompt trainer (see the module docstring and docs/METHOD.md).

    Saving, resuming and the strict ``load_model`` (trainer, backbone,
    parameter names and shapes checked; a base-trained checkpoint loads into
    a model built for new classes) come with ``TrainerX`` from
    ``enprompt.dassl``; the two hints below adapt their errors to EnPrompt.
    """

    loss_anomaly_hint = "Try a lower OPTIM.LR or a more stable precision (TRAINER.ENPROMPT.PREC fp32 or amp)."
    checkpoint_mismatch_hint = (
        "It was trained with another backbone, another trainer, or other "
        "TRAINER.ENPROMPT settings (N_CTX_VISION, PROMPT_DEPTH_VISION, ENLA.*, SF.*); "
        "evaluate it with the same --config-file and MODEL.BACKBONE.NAME as in training."
    )

    def check_cfg(self, cfg):
        check_enprompt_cfg(cfg)

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames

        clip_model, self.precision = load_clip_for_run(cfg, self.device)
        check_enprompt_cfg(cfg, clip_model)

        print("Building EnPrompt (CLIP frozen; learning EnLa, visual prompts, strengthening projections)")
        self.model = build_enprompt_model(cfg, clip_model, classnames, device=self.device)
        # The model as it runs: eager, or through torch.compile (TRAINER.ENPROMPT.COMPILE)
        target = cfg.TRAINER.ENPROMPT.COMPILE
        if target == "step" and is_distributed():
            print("TRAINER.ENPROMPT.COMPILE step: several processes train through "
                  "DistributedDataParallel; compiling the image encoder only")
            target = "encoder"
        self.compiled_model = compile_enprompt(self.model, target, self.device)
        learnable = self.model.prompt_learner
        print(f"Parameters to be updated: {sorted(n for n, _ in learnable.named_parameters())}")
        print(f"# learnable params: {count_num_param(learnable):,}")

        self.optim = build_optimizer(learnable, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("prompt_learner", learnable, self.optim, self.sched)
        # Several processes (torchrun, Slurm tasks): DistributedDataParallel, whose
        # backward averages the learnable parameters' gradients over them.
        self.ddp_model = data_parallel(self.model, self.device) if is_distributed() else None
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "amp" else None

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        if self.ddp_model is not None:  # several processes: DDP's forward and backward
            loss_summary = enprompt_step(
                self.ddp_model, self.optim, self.scaler, image, label, self.precision, self.detect_anomaly
            )
        else:
            loss_summary = self.compiled_model.step(
                enprompt_step, self.optim, self.scaler, image, label, self.precision, self.detect_anomaly
            )
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return loss_summary

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def model_inference(self, input):
        with autocast_for(self.precision, self.device):
            return self.compiled_model(input)
