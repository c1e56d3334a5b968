"""Build the EnPrompt model from a config (the only place that reads the cfg)."""
from enprompt.templates import cfg_templates

from .enprompt_clip import EnPromptCLIP
from .ot_loss import OTAlignmentLoss
from .prompt_learner import EnPromptLearner

__all__ = ["build_enprompt_model"]


def build_enprompt_model(cfg, clip_model, classnames, device=None, templates=None):
    """EnPrompt around a loaded CLIP ViT for the given classes.

    Args:
        cfg (CfgNode): config with the ``TRAINER.ENPROMPT`` keys and ``DATASET.NAME``
            (selects the templates, :func:`enprompt.templates.cfg_templates`).
        clip_model (clip.model.CLIP): loaded CLIP, already cast to its precision;
            widths and depth are read from it.
        classnames (list[str]): the C classes of the task.
        device (torch.device, optional): where the model goes (default: CPU);
            the text features are computed there.
        templates (list[str], optional): the templates of the frozen text
            features, instead of those the cfg selects (a saved model's own).

    Returns:
        EnPromptCLIP: CLIP frozen, learnable parameters float32, CLIP's text
        tower on the CPU.
    """
    ep = cfg.TRAINER.ENPROMPT
    if templates is None:
        templates = cfg_templates(cfg)
    prompt_learner = EnPromptLearner(
        embed_dim=clip_model.visual.output_dim,
        vision_width=clip_model.visual.conv1.out_channels,
        n_ctx=ep.N_CTX_VISION,
        depth=ep.PROMPT_DEPTH_VISION,
        enla_enabled=ep.ENLA.ENABLE,
        enla_reduction=ep.ENLA.REDUCTION,
        sf_enabled=ep.SF.ENABLE,
        sf_rank=ep.SF.RANK,
    )
    ot_loss = None
    if ep.OT.ENABLE:
        ot_loss = OTAlignmentLoss(eps=ep.OT.EPS, n_iters=ep.OT.ITERS, solver=ep.OT.SOLVER)
    return EnPromptCLIP(
        clip_model,
        classnames,
        templates,
        prompt_learner,
        ot_loss=ot_loss,
        ot_weight=ep.OT.WEIGHT,
        device=device,
    )
