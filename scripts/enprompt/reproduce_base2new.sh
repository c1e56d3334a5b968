#!/usr/bin/env bash
# Base-to-novel on the 11 datasets x seeds 1 2 3: train on base classes, test
# on new classes, then print the table (python -m enprompt.results).
# Finished runs are skipped and interrupted ones resume, so rerun this script
# after any failure.
#
# Usage: bash scripts/enprompt/reproduce_base2new.sh [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON (see common.sh), and
#   DATASETS="dtd eurosat"  a subset of the datasets (default: all 11)
#   SEEDS="1"               a subset of the seeds (default: 1 2 3)
# KEY VALUE options are passed to every train.py run.
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/common.sh" "$@"  # strict mode; -h/--help
setup_env

# The protocol's datasets and seeds by default (enprompt/protocols.py).
DATASETS=${DATASETS:-$("$PYTHON" -m enprompt.protocols datasets base2new)}
SEEDS=${SEEDS:-$("$PYTHON" -m enprompt.protocols seeds)}
read -r -a DATASET_LIST <<< "$DATASETS"
read -r -a SEED_LIST <<< "$SEEDS"

for DATASET in "${DATASET_LIST[@]}"; do
    for SEED in "${SEED_LIST[@]}"; do
        bash "$HERE/base2new_train.sh" "$DATASET" "$SEED" "$@"
        bash "$HERE/base2new_test.sh" "$DATASET" "$SEED" "$@"
    done
done
"$PYTHON" -m enprompt.results "$OUTPUT_ROOT" --seeds "${SEED_LIST[@]}"
