"""Default configuration of the built-in engine: Dassl's keys and defaults.

Every key that Dassl 0.6.3's ``dassl/config/defaults.py`` defines for the
generic groups (INPUT, DATASET, DATALOADER, MODEL, OPTIM, TRAIN, TEST) is
here with the same default, so any CoOp-family YAML file merges unchanged and
a misspelt key fails in yacs' ``merge_from_file`` / ``merge_from_list``.
Method-specific nodes (``TRAINER.<METHOD>``) are added by each method's
``add_*_config`` function, never here.
"""
from yacs.config import CfgNode as CN

__all__ = ["get_cfg_default"]

_C = CN()

_C.VERSION = 1

# Folder for the log, tensorboard events and checkpoints of a run
_C.OUTPUT_DIR = "./output"
# Folder of an earlier run to resume from (default: OUTPUT_DIR itself)
_C.RESUME = ""
# Random seed; a negative value leaves the run unseeded
_C.SEED = -1
# Use CUDA when it is available
_C.USE_CUDA = True
# Print the dataset summary, the trainer name and other details
_C.VERBOSE = True

# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------
_C.INPUT = CN()
# Network input size (height, width)
_C.INPUT.SIZE = (224, 224)
# Interpolation of resize operations: bilinear, bicubic or nearest
_C.INPUT.INTERPOLATION = "bilinear"
# Transform names, applied in Dassl's fixed order (see engine/data/transforms.py)
_C.INPUT.TRANSFORMS = ()
# If True, no transform at all (the loader yields PIL images)
_C.INPUT.NO_TRANSFORM = False
# Normalisation mean and std (default: ImageNet's; CLIP configs set CLIP's)
_C.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]
_C.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]
# Padding of random_crop (pixels)
_C.INPUT.CROP_PADDING = 4
# Area range of random_resized_crop
_C.INPUT.RRCROP_SCALE = (0.08, 1.0)
# Cutout: number of holes and hole side length
_C.INPUT.CUTOUT_N = 1
_C.INPUT.CUTOUT_LEN = 16
# Gaussian noise
_C.INPUT.GN_MEAN = 0.0
_C.INPUT.GN_STD = 0.15
# RandAugment: number of operations and magnitude
_C.INPUT.RANDAUGMENT_N = 2
_C.INPUT.RANDAUGMENT_M = 10
# ColorJitter (brightness, contrast, saturation, hue)
_C.INPUT.COLORJITTER_B = 0.4
_C.INPUT.COLORJITTER_C = 0.4
_C.INPUT.COLORJITTER_S = 0.4
_C.INPUT.COLORJITTER_H = 0.1
# Probability of random grayscale
_C.INPUT.RGS_P = 0.2
# Gaussian blur: probability and kernel size (odd)
_C.INPUT.GB_P = 0.5
_C.INPUT.GB_K = 21

# ---------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------
_C.DATASET = CN()
# Folder that holds the dataset folders (the scripts pass $DATA)
_C.DATASET.ROOT = ""
# Registered reader name, e.g. OxfordPets
_C.DATASET.NAME = ""
# Source/target domain names (domain adaptation / generalisation datasets)
_C.DATASET.SOURCE_DOMAINS = ()
_C.DATASET.TARGET_DOMAINS = ()
# Number of labelled instances in total (semi-supervised learning)
_C.DATASET.NUM_LABELED = -1
# Images per class for few-shot learning; -1 uses the full training split
_C.DATASET.NUM_SHOTS = -1
# Share of validation data (semi-supervised datasets only)
_C.DATASET.VAL_PERCENT = 0.1
# STL-10 fold (0-9), negative means none
_C.DATASET.STL10_FOLD = -1
# CIFAR-10/100-C corruption type and level
_C.DATASET.CIFAR_C_TYPE = ""
_C.DATASET.CIFAR_C_LEVEL = 1
# Use all data as unlabelled data (e.g. FixMatch)
_C.DATASET.ALL_AS_UNLABELED = False

# ---------------------------------------------------------------------------
# Data loader
# ---------------------------------------------------------------------------
_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4
# Augment a training image K times
_C.DATALOADER.K_TRANSFORMS = 1
# Also return the image without augmentation as "img0"
_C.DATALOADER.RETURN_IMG0 = False
_C.DATALOADER.TRAIN_X = CN()
_C.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"
_C.DATALOADER.TRAIN_X.BATCH_SIZE = 32
# RandomDomainSampler: number of domains per batch (0 or -1: all)
_C.DATALOADER.TRAIN_X.N_DOMAIN = 0
# RandomClassSampler: instances per class
_C.DATALOADER.TRAIN_X.N_INS = 16
_C.DATALOADER.TRAIN_U = CN()
# Use TRAIN_X's sampler settings for TRAIN_U
_C.DATALOADER.TRAIN_U.SAME_AS_X = True
_C.DATALOADER.TRAIN_U.SAMPLER = "RandomSampler"
_C.DATALOADER.TRAIN_U.BATCH_SIZE = 32
_C.DATALOADER.TRAIN_U.N_DOMAIN = 0
_C.DATALOADER.TRAIN_U.N_INS = 16
_C.DATALOADER.TEST = CN()
_C.DATALOADER.TEST.SAMPLER = "SequentialSampler"
_C.DATALOADER.TEST.BATCH_SIZE = 32

# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
_C.MODEL = CN()
# Weights to initialise the model from
_C.MODEL.INIT_WEIGHTS = ""
_C.MODEL.BACKBONE = CN()
# Backbone name; for CLIP trainers an OpenAI CLIP name such as ViT-B/16
_C.MODEL.BACKBONE.NAME = ""
_C.MODEL.BACKBONE.PRETRAINED = True
_C.MODEL.HEAD = CN()
_C.MODEL.HEAD.NAME = ""
_C.MODEL.HEAD.HIDDEN_LAYERS = ()
_C.MODEL.HEAD.ACTIVATION = "relu"
_C.MODEL.HEAD.BN = True
_C.MODEL.HEAD.DROPOUT = 0.0

# ---------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------
_C.OPTIM = CN()
# sgd, adam, adamw, amsgrad, rmsprop
_C.OPTIM.NAME = "adam"
_C.OPTIM.LR = 0.0003
_C.OPTIM.WEIGHT_DECAY = 5e-4
_C.OPTIM.MOMENTUM = 0.9
_C.OPTIM.SGD_DAMPNING = 0
_C.OPTIM.SGD_NESTEROV = False
_C.OPTIM.RMSPROP_ALPHA = 0.99
# Betas of Adam-type optimisers
_C.OPTIM.ADAM_BETA1 = 0.9
_C.OPTIM.ADAM_BETA2 = 0.999
# STAGED_LR: modules named in NEW_LAYERS get LR, all others LR * BASE_LR_MULT
_C.OPTIM.STAGED_LR = False
_C.OPTIM.NEW_LAYERS = ()
_C.OPTIM.BASE_LR_MULT = 0.1
# single_step, multi_step or cosine; stepped once per epoch
_C.OPTIM.LR_SCHEDULER = "single_step"
# Step size(s) in epochs; -1 or 0 means MAX_EPOCH
_C.OPTIM.STEPSIZE = (-1,)
_C.OPTIM.GAMMA = 0.1
_C.OPTIM.MAX_EPOCH = 10
# Warm-up epochs, counted within MAX_EPOCH; <= 0 disables warm-up
_C.OPTIM.WARMUP_EPOCH = -1
# constant or linear
_C.OPTIM.WARMUP_TYPE = "linear"
# Learning rate during a constant warm-up
_C.OPTIM.WARMUP_CONS_LR = 1e-5
# Starting learning rate of a linear warm-up
_C.OPTIM.WARMUP_MIN_LR = 1e-5
# True: the main schedule starts counting after warm-up;
# False: it is pre-advanced by WARMUP_EPOCH
_C.OPTIM.WARMUP_RECOUNT = True

# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------
_C.TRAIN = CN()
# Save a checkpoint every N epochs; <= 0 saves only the last epoch
_C.TRAIN.CHECKPOINT_FREQ = 0
# Print a log line every N batches (every batch if an epoch has fewer)
_C.TRAIN.PRINT_FREQ = 10
# train_x, train_u or smaller_one: which loader defines an epoch
_C.TRAIN.COUNT_ITER = "train_x"

# ---------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.EVALUATOR = "Classification"
# Also print per-class accuracy
_C.TEST.PER_CLASS_RESULT = False
# Save the confusion matrix to OUTPUT_DIR/cmat.pt
_C.TEST.COMPUTE_CMAT = False
# Skip the test after training
_C.TEST.NO_TEST = False
# Split of the final evaluation: test or val
_C.TEST.SPLIT = "test"
# Model to deploy after training: last_step or best_val
_C.TEST.FINAL_MODEL = "last_step"

# ---------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------
_C.TRAINER = CN()
# Registered trainer name, e.g. EnPrompt
_C.TRAINER.NAME = ""


def get_cfg_default():
    """Return a fresh, mutable copy of the default configuration."""
    return _C.clone()
