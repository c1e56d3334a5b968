"""Zero-shot CLIP baselines, as CoOp's ``trainers/zsclip.py``.

* ``ZeroshotCLIP``: one hand-crafted template per dataset (``CUSTOM_TEMPLATES``).
* ``ZeroshotCLIP2``: prompt ensemble, the 7 ``IMAGENET_TEMPLATES_SELECT`` plus
  the custom template for datasets other than ImageNet.

Evaluation only: ``python train.py ... --trainer ZeroshotCLIP --eval-only``
(no ``--model-dir``). The CLIP weights are those of
``TRAINER.ENPROMPT.CLIP_WEIGHTS`` / the CLIP cache, the same for every
trainer of this project, and ``TRAINER.ENPROMPT.PREC`` sets the precision.
"""
from enprompt.choices import check_choice
from enprompt.clip_loader import load_clip_for_run
from enprompt.dassl import TRAINER_REGISTRY, TrainerX
from enprompt.model import ZeroshotCLIPClassifier, autocast_for
from enprompt.templates import cfg_templates

__all__ = ["ZeroshotCLIP", "ZeroshotCLIP2"]


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """Zero-shot CLIP with the dataset's custom template."""

    template_mode = "custom"

    def check_cfg(self, cfg):
        check_choice("TRAINER.ENPROMPT.PREC", cfg.TRAINER.ENPROMPT.PREC)

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        clip_model, self.precision = load_clip_for_run(cfg, self.device)
        templates = cfg_templates(cfg, self.template_mode)
        print(f"Prompts: {len(templates)} template(s), e.g. {templates[0]!r}")
        self.model = ZeroshotCLIPClassifier(clip_model, classnames, templates, device=self.device)
        self.model.eval()

    def model_inference(self, input):
        with autocast_for(self.precision, self.device):
            return self.model(input)

    def load_model(self, directory, epoch=None):
        if directory:
            print(f"Note: {type(self).__name__} has no trained weights; --model-dir {directory} is ignored")

    def forward_backward(self, batch):
        raise NotImplementedError(
            f"{type(self).__name__} is zero-shot and cannot be trained; run train.py with --eval-only"
        )


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Zero-shot CLIP with the prompt ensemble (IMAGENET_TEMPLATES_SELECT + custom)."""

    template_mode = "ensemble"
