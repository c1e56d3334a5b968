#!/usr/bin/env bash
# Zero-shot CLIP baseline on DATASET (--eval-only, no training), CoOp's layout.
#
# Usage: bash scripts/enprompt/zeroshot.sh DATASET [KEY VALUE ...]
#   e.g. ... zeroshot.sh dtd DATASET.SUBSAMPLE_CLASSES new   (with OUTPUT set
#   apart, as the folder name does not record the class subset)
# Environment: DATA (required), OUTPUT, PYTHON, OVERWRITE (see common.sh);
# ZS_TRAINER=ZeroshotCLIP2 for the prompt ensemble.
# Output: $OUTPUT/ZS_TRAINER/vit_b16/DATASET
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 1 ]] || usage_error
DATASET=$1
shift 1
setup_env
ZS_TRAINER=${ZS_TRAINER:-ZeroshotCLIP}
ZS_CFG=vit_b16
check_dataset "$DATASET"

DIR="$OUTPUT_ROOT/$ZS_TRAINER/$ZS_CFG/$DATASET"
train_py \
    --root "$DATA_ROOT" \
    --trainer "$ZS_TRAINER" \
    --dataset-config-file "configs/datasets/$DATASET.yaml" \
    --config-file "configs/trainers/ZeroshotCLIP/$ZS_CFG.yaml" \
    --output-dir "$DIR" \
    --eval-only \
    "$@"
