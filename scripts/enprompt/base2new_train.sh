#!/usr/bin/env bash
# Base-to-novel, step 1: train EnPrompt on the base classes (first ceil(C/2))
# of DATASET with 16 shots; the training ends with the test on the base classes.
#
# Usage: bash scripts/enprompt/base2new_train.sh DATASET SEED [KEY VALUE ...]
#   DATASET  a config basename of configs/datasets/ (dtd, oxford_pets, imagenet, ...)
#   SEED     1, 2, 3, ...
#   KEY VALUE  further config options for train.py, e.g. OPTIM.MAX_EPOCH 1
# Environment: DATA (required), OUTPUT, CFG, PYTHON, OVERWRITE (see common.sh).
# Output: $OUTPUT/base2new/train_base/DATASET/shots_16/EnPrompt/CFG/seedSEED
# A finished run is skipped; an interrupted one resumes from its last checkpoint.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 2 ]] || usage_error
DATASET=$1
SEED=$2
shift 2
CFG=${CFG:-vit_b16_c4_ep5_batch4_base2new}
SHOTS=$(shots_from_opts 16 "$@")
setup_run

DIR="$OUTPUT_ROOT/base2new/train_base/$DATASET/shots_$SHOTS/$TRAINER/$CFG/seed$SEED"
train_enprompt "$DIR" \
    DATASET.NUM_SHOTS "$SHOTS" \
    DATASET.SUBSAMPLE_CLASSES base \
    "$@"
