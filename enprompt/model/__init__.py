"""EnPrompt's model modules, one concept per file (docs/METHOD.md).

=====================  ====================================================
``text_features``      frozen class text features ``T`` (step 1), cached per class list
``enla``               External Layer ``EnLa`` (step 2)
``strengthening``      strengthening feature ``s`` and projections ``G_j`` (step 3)
``prompted_vision``    deep visual prompting of CLIP's ViT (step 4)
``prompt_learner``     the learnable part: EnLa, ``P_j``, ``G_j``
``ot_loss``            Sinkhorn and the OT alignment loss (step 6)
``logits``             CLIP's scaled cosine logits, fp32 under every precision (step 5)
``enprompt_clip``      the model joining them (step 5, 7)
``zeroshot``           zero-shot CLIP classifier (baselines)
``precision``          fp16 / fp32 / amp / bf16 handling (step 9)
``compile``            ``torch.compile`` of the model or of the whole training step
``build``              ``build_enprompt_model(cfg, clip_model, classnames)``
=====================  ====================================================
"""
from .build import build_enprompt_model
from .compile import CompiledEnPrompt, compile_enprompt
from .enla import ExternalLayer
from .enprompt_clip import EnPromptCLIP
from .logits import clip_logits
from .ot_loss import OTAlignmentLoss, cosine_cost, sinkhorn, sinkhorn_cost
from .precision import PRECISIONS, autocast_for, autocast_off, cast_clip_weights, resolve_precision
from .prompt_learner import EnPromptLearner
from .prompted_vision import PromptedVisionEncoder
from .strengthening import StrengtheningProjection, strengthening_feature
from .text_features import ClassTextFeatures, encode_class_text_features
from .zeroshot import ZeroshotCLIPClassifier

__all__ = [
    "build_enprompt_model",
    "CompiledEnPrompt",
    "compile_enprompt",
    "ExternalLayer",
    "EnPromptCLIP",
    "clip_logits",
    "EnPromptLearner",
    "OTAlignmentLoss",
    "cosine_cost",
    "sinkhorn",
    "sinkhorn_cost",
    "PRECISIONS",
    "autocast_for",
    "autocast_off",
    "cast_clip_weights",
    "resolve_precision",
    "PromptedVisionEncoder",
    "StrengtheningProjection",
    "strengthening_feature",
    "ClassTextFeatures",
    "encode_class_text_features",
    "ZeroshotCLIPClassifier",
]
