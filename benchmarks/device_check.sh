#!/usr/bin/env bash
# The device check of docs/PERFORMANCE.md, section 5: the CUDA tests, then the
# training and evaluation benchmarks in fp16 (eager and compiled), in at most
# six minutes on one GPU; every figure goes to OUT_DIR as JSON and markdown.
#
#   benchmarks/device_check.sh OUT_DIR                # on a CUDA machine, from the repository root
#   DEVICE_CHECK_ALLOW_CPU=1 benchmarks/device_check.sh OUT_DIR --smoke   # the plumbing on a CPU
#
# Options (benchmarks/device_check.py --help): --budget-s SECONDS, --only STAGE[,STAGE].
# Exit status: 0 complete, 1 a stage failed, 2 no CUDA device or bad arguments, 3 out of time.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"
export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"
exec "${python}" "${repo_root}/benchmarks/device_check.py" "$@"
