"""EnPrompt's configuration keys (``TRAINER.ENPROMPT.*``) and their checks.

A CoOp-family ``train.py`` calls :func:`add_enprompt_config` in its
``extend_cfg``; the YAML files and the command line then only override keys.
Symbols refer to docs/METHOD.md (D: joint embedding size, W: vision width,
L: vision layers, n, J, r, lambda, eps as there). The sets of allowed values
live in :mod:`enprompt.choices`; importing this module does not load PyTorch.
"""
from yacs.config import CfgNode as CN

from enprompt.choices import check_choice, invalid_value
from enprompt.data.image_folder import IMAGE_FOLDER_READER, SplitRule

__all__ = [
    "MIN_OT_EPS",
    "add_enprompt_config",
    "check_enprompt_cfg",
]

# Smallest OT.EPS for which exp(-M / eps) stays a normal float32 with M <= 2.
MIN_OT_EPS = 0.025


def _node(parent, name):
    if name not in parent:
        setattr(parent, name, CN())
    return getattr(parent, name)


def _default(node, key, value):
    # Only add missing keys, so that calling this twice (or after a YAML that
    # already set a value) never resets anything.
    if key not in node:
        setattr(node, key, value)


def add_enprompt_config(cfg):
    """Add every ``TRAINER.ENPROMPT`` key (and ``DATASET.SUBSAMPLE_CLASSES``,
    ``DATASET.IMAGE_FOLDER.*``, ``DATALOADER.SKIP_BAD_IMAGES``).

    Safe to call more than once: existing keys keep their values.

    Args:
        cfg (yacs.config.CfgNode): the (unfrozen) Dassl config.

    Returns:
        The same ``cfg``.
    """
    trainer = _node(cfg, "TRAINER")
    ep = _node(trainer, "ENPROMPT")

    # n: learnable visual prompt tokens per prompted layer (>= 0; 0 disables visual prompts)
    _default(ep, "N_CTX_VISION", 4)
    # J: number of prompted vision layers, 0 <= J <= L (12 for ViT-B, 24 for ViT-L)
    _default(ep, "PROMPT_DEPTH_VISION", 9)
    # Precision: fp16 (CLIP's native half weights), fp32, amp (fp32 weights +
    # autocast fp16 + GradScaler) or bf16. On a CPU, fp16 falls back to fp32.
    _default(ep, "PREC", "fp16")
    # Text templates of the frozen features T: custom (the dataset's one) or
    # ensemble (7 IMAGENET_TEMPLATES_SELECT + custom, averaged)
    _default(ep, "TEMPLATES", "custom")
    # Local CLIP checkpoint file for every trainer of this project (EnPrompt,
    # ZeroshotCLIP, ZeroshotCLIP2); "" = the CLIP cache ($CLIP_CACHE_DIR or
    # ~/.cache/clip), downloaded there when missing
    _default(ep, "CLIP_WEIGHTS", "")

    enla = _node(ep, "ENLA")
    # External Layer EnLa(t) = t + W2 act(W1 t) on the frozen text features
    _default(enla, "ENABLE", True)
    # r: bottleneck reduction, W1: D -> D/r (integer >= 1)
    _default(enla, "REDUCTION", 4)

    sf = _node(ep, "SF")
    # Strengthening feature s fused into the visual prompts: P_j + G_j(s)
    _default(sf, "ENABLE", True)
    # Rank R of G_j = B_j A (A: D -> R shared, B_j: R -> W); 0 = full-rank
    # D -> W per layer (about 3.5M parameters for ViT-B/16 with J = 9)
    _default(sf, "RANK", 64)

    ot = _node(ep, "OT")
    # Optimal-transport alignment L_OT between {v_i} and {EnLa(t_{y_i})}
    _default(ot, "ENABLE", True)
    # lambda in L = L_CE + lambda * L_OT (>= 0)
    _default(ot, "WEIGHT", 1.0)
    # eps: entropic regularisation of Sinkhorn (>= 0.025 in float32)
    _default(ot, "EPS", 0.1)
    # Sinkhorn iterations (fixed count, >= 1)
    _default(ot, "ITERS", 100)
    # sinkhorn (built-in, same updates as POT, no host sync) or pot (ot.sinkhorn2)
    _default(ot, "SOLVER", "sinkhorn")

    dataset = _node(cfg, "DATASET")
    # Class subset for base-to-novel: all, base (first ceil(C/2)) or new
    _default(dataset, "SUBSAMPLE_CLASSES", "all")

    folder = _node(dataset, "IMAGE_FOLDER")
    # Your own images (DATASET.NAME ImageFolder, configs/datasets/image_folder.yaml):
    # the folder, relative to DATASET.ROOT or absolute; it holds <class>/<image>
    # (split here, once) or train/<class>/<image>, test/... and optionally val/...
    _default(folder, "DIR", "")
    # Template of the frozen text features of its classes: one {} for the class name
    _default(folder, "TEMPLATE", "a photo of a {}.")
    # Seed of the split of a <class>/<image> folder (integer >= 0); its own, not
    # SEED, so every seed of an experiment uses the same split
    _default(folder, "SPLIT_SEED", SplitRule.seed)
    # Share of each class's images in train, in (0, 1) (counts round as in CoOp's 50/20/30)
    _default(folder, "P_TRAIN", SplitRule.p_train)
    # Share in val, in (0, 1), P_TRAIN + P_VAL < 1; test gets the rest
    _default(folder, "P_VAL", SplitRule.p_val)

    loader = _node(cfg, "DATALOADER")
    # Drop images that cannot be decoded (with a warning and a count) instead of
    # stopping with an error naming the file; every image is decoded once at start.
    # A class left without training images still stops the run, naming the class
    _default(loader, "SKIP_BAD_IMAGES", False)
    return cfg


def _fail(key, value, expected, prefix="TRAINER.ENPROMPT."):
    raise invalid_value(prefix + key, value, expected)


def _check_int(key, value, minimum, prefix="TRAINER.ENPROMPT."):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"expected an integer >= {minimum}", prefix)


def _check_number(key, value, minimum, strict=False, prefix="TRAINER.ENPROMPT."):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        _fail(key, value, f"expected a number {'>' if strict else '>='} {minimum}", prefix)


def check_common_cfg(cfg):
    """Validate the Dassl keys that every run of this project depends on.

    yacs already rejects unknown keys and values of the wrong type; this
    catches values out of range before any data is read.

    Raises:
        ValueError: naming the key, its value and the allowed set or limit.
    """
    _check_int("OPTIM.MAX_EPOCH", cfg.OPTIM.MAX_EPOCH, 1, prefix="")
    _check_number("OPTIM.LR", cfg.OPTIM.LR, 0, strict=True, prefix="")
    _check_number("OPTIM.WEIGHT_DECAY", cfg.OPTIM.WEIGHT_DECAY, 0, prefix="")
    _check_int("DATALOADER.TRAIN_X.BATCH_SIZE", cfg.DATALOADER.TRAIN_X.BATCH_SIZE, 1, prefix="")
    _check_int("DATALOADER.TEST.BATCH_SIZE", cfg.DATALOADER.TEST.BATCH_SIZE, 1, prefix="")
    _check_int("DATALOADER.NUM_WORKERS", cfg.DATALOADER.NUM_WORKERS, 0, prefix="")
    _check_int("TRAIN.PRINT_FREQ", cfg.TRAIN.PRINT_FREQ, 1, prefix="")
    _check_int("DATASET.NUM_SHOTS", cfg.DATASET.NUM_SHOTS, -1, prefix="")
    check_choice("DATASET.SUBSAMPLE_CLASSES", cfg.DATASET.SUBSAMPLE_CLASSES)
    check_choice("TEST.FINAL_MODEL", cfg.TEST.FINAL_MODEL)
    check_choice("TEST.SPLIT", cfg.TEST.SPLIT)
    size = tuple(cfg.INPUT.SIZE)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        _fail("INPUT.SIZE", size, "expected two positive integers (height, width)", prefix="")
    if cfg.DATASET.NAME == IMAGE_FOLDER_READER:
        _check_image_folder_cfg(cfg.DATASET.IMAGE_FOLDER)


def _check_image_folder_cfg(node):
    prefix = "DATASET.IMAGE_FOLDER."
    if not node.DIR:
        _fail("DIR", node.DIR, "set it to your image folder, relative to --root or absolute "
              "(e.g. DATASET.IMAGE_FOLDER.DIR my_photos)", prefix)
    if node.TEMPLATE.count("{}") != 1:
        _fail("TEMPLATE", node.TEMPLATE, "expected one {} where the class name goes, e.g. "
              "'a photo of a {}.'", prefix)
    _check_int("SPLIT_SEED", node.SPLIT_SEED, 0, prefix)
    for key in ("P_TRAIN", "P_VAL"):
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            _fail(key, value, "expected a share strictly between 0 and 1", prefix)
    if node.P_TRAIN + node.P_VAL >= 1:
        _fail("P_VAL", node.P_VAL, f"P_TRAIN + P_VAL must be < 1 so that test keeps images "
              f"(P_TRAIN = {node.P_TRAIN})", prefix)


def check_enprompt_cfg(cfg, clip_model=None):
    """Validate the ``TRAINER.ENPROMPT`` keys, and against the backbone if given.

    Args:
        cfg (CfgNode): a config extended by :func:`add_enprompt_config`.
        clip_model (clip.model.CLIP, optional): the loaded backbone; enables the
            checks of ``PROMPT_DEPTH_VISION <= L``, ``ENLA.REDUCTION <= D`` and
            ``INPUT.SIZE`` = the backbone's input resolution.

    Raises:
        ValueError: naming the key, its value and the allowed set or limit.
    """
    check_common_cfg(cfg)
    ep = cfg.TRAINER.ENPROMPT
    check_choice("TRAINER.ENPROMPT.PREC", ep.PREC)
    check_choice("TRAINER.ENPROMPT.TEMPLATES", ep.TEMPLATES)
    check_choice("TRAINER.ENPROMPT.OT.SOLVER", ep.OT.SOLVER)
    _check_int("N_CTX_VISION", ep.N_CTX_VISION, 0)
    _check_int("PROMPT_DEPTH_VISION", ep.PROMPT_DEPTH_VISION, 0)
    _check_int("ENLA.REDUCTION", ep.ENLA.REDUCTION, 1)
    _check_int("SF.RANK", ep.SF.RANK, 0)
    _check_number("OT.WEIGHT", ep.OT.WEIGHT, 0)
    _check_number("OT.EPS", ep.OT.EPS, MIN_OT_EPS)
    _check_int("OT.ITERS", ep.OT.ITERS, 1)

    if ep.PROMPT_DEPTH_VISION > 0 and ep.N_CTX_VISION == 0:
        _fail(
            "PROMPT_DEPTH_VISION",
            ep.PROMPT_DEPTH_VISION,
            "it needs TRAINER.ENPROMPT.N_CTX_VISION > 0 (got 0); set both to 0 to "
            "train without visual prompts",
        )
    if ep.N_CTX_VISION > 0 and ep.PROMPT_DEPTH_VISION == 0:
        _fail(
            "N_CTX_VISION",
            ep.N_CTX_VISION,
            "it has no effect with TRAINER.ENPROMPT.PROMPT_DEPTH_VISION = 0; set "
            "PROMPT_DEPTH_VISION >= 1 or N_CTX_VISION = 0",
        )
    if ep.SF.ENABLE and ep.PROMPT_DEPTH_VISION == 0:
        _fail(
            "SF.ENABLE",
            ep.SF.ENABLE,
            "the strengthening feature is fused into the visual prompts, which are "
            "off (PROMPT_DEPTH_VISION = 0); set SF.ENABLE False",
        )

    if clip_model is None:
        return
    visual = clip_model.visual
    if not hasattr(visual, "conv1") or not hasattr(visual, "transformer"):
        raise ValueError(f"EnPrompt needs a CLIP ViT backbone, got {type(visual).__name__}")
    num_layers = len(visual.transformer.resblocks)
    if ep.PROMPT_DEPTH_VISION > num_layers:
        _fail(
            "PROMPT_DEPTH_VISION",
            ep.PROMPT_DEPTH_VISION,
            f"the loaded image encoder has {num_layers} layers, so the limit is {num_layers}",
        )
    embed_dim = visual.output_dim
    if ep.ENLA.REDUCTION > embed_dim:
        _fail("ENLA.REDUCTION", ep.ENLA.REDUCTION, f"must be <= the embedding size D = {embed_dim}")
    resolution = visual.input_resolution
    size = tuple(cfg.INPUT.SIZE)
    if size != (resolution, resolution):
        raise ValueError(
            f"INPUT.SIZE = {size} does not match the backbone's input resolution "
            f"({resolution}, {resolution}); set INPUT.SIZE ({resolution}, {resolution})"
        )
