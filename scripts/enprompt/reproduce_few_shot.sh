#!/usr/bin/env bash
# Few-shot on the 11 datasets x 1/2/4/8/16 shots x seeds 1 2 3, then print the
# table (python -m enprompt.results). Finished runs are skipped and
# interrupted ones resume, so rerun this script after any failure.
#
# Usage: bash scripts/enprompt/reproduce_few_shot.sh [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON (see common.sh), and
#   DATASETS="dtd eurosat"  a subset of the datasets (default: all 11)
#   SHOTS="1 16"            a subset of the shot counts (default: 1 2 4 8 16)
#   SEEDS="1"               a subset of the seeds (default: 1 2 3)
# KEY VALUE options are passed to every train.py run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/common.sh"
setup_env

read -r -a DATASET_LIST <<< "${DATASETS:-imagenet caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat ucf101}"
read -r -a SHOT_LIST <<< "${SHOTS:-1 2 4 8 16}"
read -r -a SEED_LIST <<< "${SEEDS:-1 2 3}"

for DATASET in "${DATASET_LIST[@]}"; do
    for SHOT in "${SHOT_LIST[@]}"; do
        for SEED in "${SEED_LIST[@]}"; do
            bash "$HERE/few_shot.sh" "$DATASET" "$SHOT" "$SEED" "$@"
        done
    done
done
"$PYTHON" -m enprompt.results "$OUTPUT_ROOT" --seeds "${SEED_LIST[@]}"
