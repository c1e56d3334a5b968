#!/usr/bin/env bash
# Cross-dataset and domain generalization, step 1: train EnPrompt on ImageNet
# (all 1000 classes, 16 shots); the training ends with the ImageNet test.
#
# Usage: bash scripts/enprompt/xd_train.sh SEED [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON, OVERWRITE (see common.sh).
# Output: $OUTPUT/imagenet/EnPrompt/CFG_16shots/seedSEED
# A finished run is skipped; an interrupted one resumes from its last checkpoint.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 1 ]] || usage_error
SEED=$1
shift 1
DATASET=imagenet
CFG=${CFG:-vit_b16_c4_ep2_batch4_cross_datasets}
SHOTS=$(shots_from_opts 16 "$@")
setup_run

DIR="$OUTPUT_ROOT/$DATASET/$TRAINER/${CFG}_${SHOTS}shots/seed$SEED"
train_enprompt "$DIR" \
    DATASET.NUM_SHOTS "$SHOTS" \
    "$@"
