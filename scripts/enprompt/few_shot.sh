#!/usr/bin/env bash
# Few-shot: train EnPrompt on all classes of DATASET with SHOTS images per
# class; the training ends with the test on the full test set.
#
# Usage: bash scripts/enprompt/few_shot.sh DATASET SHOTS SEED [KEY VALUE ...]
#   SHOTS  1, 2, 4, 8 or 16 in the paper's protocol
# Environment: DATA (required), OUTPUT, CFG, PYTHON, OVERWRITE (see common.sh).
# Output: $OUTPUT/few_shot/DATASET/EnPrompt/CFG_SHOTSshots/seedSEED
# (the few_shot/ prefix of PromptSRC's reproduce scripts: it keeps the
# few-shot ImageNet runs apart from the cross-dataset ImageNet training).
# A finished run is skipped; an interrupted one resumes from its last checkpoint.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"  # strict mode; -h/--help

[[ $# -ge 3 ]] || usage_error
DATASET=$1
SHOTS=$2
SEED=$3
shift 3
check_int SHOTS "$SHOTS"
[[ "$SHOTS" -ge 1 ]] || die "SHOTS must be at least 1, got $SHOTS"
[[ "$(shots_from_opts "$SHOTS" "$@")" == "$SHOTS" ]] || die "SHOTS is $SHOTS but the" \
    "options set DATASET.NUM_SHOTS $(shots_from_opts "$SHOTS" "$@"): give the shots once, as SHOTS"
CFG=${CFG:-vit_b16_c4_ep50_batch4_few_shot}
setup_run

DIR="$OUTPUT_ROOT/few_shot/$DATASET/$TRAINER/${CFG}_${SHOTS}shots/seed$SEED"
train_enprompt "$DIR" \
    DATASET.NUM_SHOTS "$SHOTS" \
    "$@"
