#!/usr/bin/env bash
# Cross-dataset and domain generalization, step 2: evaluate the ImageNet-trained
# model of SEED on DATASET (--eval-only, all classes, full test set).
# Cross-dataset targets: caltech101 oxford_pets stanford_cars oxford_flowers
# food101 fgvc_aircraft sun397 dtd eurosat ucf101; domain generalization:
# imagenetv2 imagenet_sketch imagenet_a imagenet_r (ImageNet-A/-R are scored
# 200-way over their own classes). The model is the final checkpoint of the
# finished xd_train.sh run (an unfinished one is refused; LOADEP=N evaluates
# model.pth.tar-N anyway, as a partial result).
#
# Usage: bash scripts/enprompt/xd_test.sh DATASET SEED [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON, OVERWRITE, LOADEP (see
# common.sh); OUTPUT and CFG must be those of the training run.
# Model:  $OUTPUT/imagenet/EnPrompt/CFG_16shots/seedSEED
# Output: $OUTPUT/evaluation/EnPrompt/CFG_16shots/DATASET/seedSEED
# A finished evaluation of the model's final checkpoint is skipped; after the
# model is trained again, it is evaluated again.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 2 ]] || usage_error
DATASET=$1
SEED=$2
shift 2
CFG=${CFG:-vit_b16_c4_ep2_batch4_cross_datasets}
SHOTS=$(shots_from_opts 16 "$@")
setup_run

MODEL_DIR="$OUTPUT_ROOT/imagenet/$TRAINER/${CFG}_${SHOTS}shots/seed$SEED"
DIR="$OUTPUT_ROOT/evaluation/$TRAINER/${CFG}_${SHOTS}shots/$DATASET/seed$SEED"
eval_enprompt "$DIR" "$MODEL_DIR" "$@"
