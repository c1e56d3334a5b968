#!/usr/bin/env bash
# Base-to-novel, step 2: evaluate the base-trained model of DATASET/SEED on the
# new classes (--eval-only). The model is the final checkpoint of the finished
# base2new_train.sh run (an unfinished one is refused; LOADEP=N evaluates
# model.pth.tar-N anyway, as a partial result).
#
# Usage: bash scripts/enprompt/base2new_test.sh DATASET SEED [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON, OVERWRITE, LOADEP (see
# common.sh); OUTPUT and CFG must be those of the training run.
# Model:  $OUTPUT/base2new/train_base/DATASET/shots_16/EnPrompt/CFG/seedSEED
# Output: $OUTPUT/base2new/test_new/DATASET/shots_16/EnPrompt/CFG/seedSEED
# A finished evaluation of the model's final checkpoint is skipped; after the
# model is trained again, it is evaluated again.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 2 ]] || usage_error
DATASET=$1
SEED=$2
shift 2
CFG=${CFG:-vit_b16_c4_ep5_batch4_base2new}
SHOTS=$(shots_from_opts 16 "$@")
setup_run

COMMON_DIR="$DATASET/shots_$SHOTS/$TRAINER/$CFG/seed$SEED"
MODEL_DIR="$OUTPUT_ROOT/base2new/train_base/$COMMON_DIR"
DIR="$OUTPUT_ROOT/base2new/test_new/$COMMON_DIR"
eval_enprompt "$DIR" "$MODEL_DIR" \
    DATASET.NUM_SHOTS "$SHOTS" \
    DATASET.SUBSAMPLE_CLASSES new \
    "$@"
