#!/usr/bin/env bash
# Cross-dataset and domain generalization x seeds 1 2 3: train on ImageNet
# (16 shots), evaluate on the 10 other datasets and on ImageNet-V2, -Sketch,
# -A and -R, then print both tables (python -m enprompt.results).
# Finished runs are skipped and interrupted ones resume, so rerun this script
# after any failure.
#
# Usage: bash scripts/enprompt/reproduce_xd.sh [KEY VALUE ...]
# Environment: DATA (required), OUTPUT, CFG, PYTHON (see common.sh), and
#   TARGETS="dtd imagenet_a"  a subset of the targets (default: all 14)
#   SEEDS="1"                 a subset of the seeds (default: 1 2 3)
# KEY VALUE options are passed to every train.py run (training and tests).
[ -n "${BASH_VERSION:-}" ] || { echo "Error: run this script with bash: bash $0 ..." >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/common.sh" "$@"  # strict mode; -h/--help
setup_env

# The targets of both protocols and their seeds by default (enprompt/protocols.py).
TARGETS=${TARGETS:-$("$PYTHON" -m enprompt.protocols datasets xd dg)}
SEEDS=${SEEDS:-$("$PYTHON" -m enprompt.protocols seeds)}
read -r -a TARGET_LIST <<< "$TARGETS"
read -r -a SEED_LIST <<< "$SEEDS"

for SEED in "${SEED_LIST[@]}"; do
    bash "$HERE/xd_train.sh" "$SEED" "$@"
    for DATASET in "${TARGET_LIST[@]}"; do
        bash "$HERE/xd_test.sh" "$DATASET" "$SEED" "$@"
    done
done
"$PYTHON" -m enprompt.results "$OUTPUT_ROOT" --seeds "${SEED_LIST[@]}"
