#!/usr/bin/env bash
# Cross-dataset and domain generalization, step 1: train EnPrompt on ImageNet
# (all 1000 classes, 16 shots); the training ends with the ImageNet test.
#
# Usage: bash scripts/enprompt/xd_train.sh SEED [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON (see common.sh).
# Output: $OUTPUT/imagenet/EnPrompt/CFG_16shots/seedSEED
# A finished run is skipped; an interrupted one resumes from its last checkpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $# -ge 1 ]] || usage_error "bash scripts/enprompt/xd_train.sh SEED [KEY VALUE ...]"
SEED=$1
shift 1
check_int SEED "$SEED"
setup_env
CFG=${CFG:-vit_b16_c4_ep2_batch4_cross_datasets}
DATASET=imagenet
SHOTS=16
check_dataset "$DATASET"
check_cfg "$CFG"

DIR="$OUTPUT_ROOT/$DATASET/$TRAINER/${CFG}_${SHOTS}shots/seed$SEED"
skip_if_finished "$DIR"
run_enprompt "$DIR" \
    DATASET.NUM_SHOTS "$SHOTS" \
    "$@"
