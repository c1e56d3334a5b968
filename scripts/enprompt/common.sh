# Shared by the scripts of scripts/enprompt/ (sourced, not run by itself), as
# `source common.sh "$@"`: it sets bash's strict mode (set -euo pipefail) and
# answers -h/--help with the calling script's comment.
#
# Environment read by every script:
#   DATA    (required) folder that holds the datasets (train.py --root)
#   OUTPUT  output root (default: <repo>/output); a relative path is taken
#           relative to the folder the script is called from
#   CFG     trainer config name under configs/trainers/EnPrompt/ (default:
#           the protocol's config), e.g. for an ablation copy of a config
#   PYTHON  the Python interpreter (default: python, else python3)
#   LAUNCHER  the command that starts train.py instead of $PYTHON, split at
#           spaces, e.g. "torchrun --standalone --nproc_per_node 2" (one run
#           on 2 processes; docs/SCALING.md)
#   OVERWRITE=1  start over in a run folder that holds another experiment (or
#           a finished run): its results and checkpoints are deleted first.
#           Without it, such a folder is refused, naming what differs.
#   LOADEP  (evaluation scripts) evaluate model.pth.tar-LOADEP instead of the
#           final checkpoint of the finished training run; the result is then
#           marked partial unless it is the final one
#
# A rerun of a script with the same arguments is always safe: a finished run
# is skipped, an interrupted one resumes from its last checkpoint, and a
# folder holding another experiment is refused (train.py decides, from the
# folder's manifest.json).
#
# Scripts run from any folder: they change to the repository root and call
# `python train.py` there, as in every CoOp-family code base. Their output
# folders are those of enprompt/protocols.py (the layout enprompt.results
# reads; a test checks that the two agree).

ENPROMPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The script that sources this file, as an absolute path.
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")"
TRAINER=EnPrompt

die() {
    echo "Error: $*" >&2
    exit 1
}

# header_comment FILE: the comment block under the first line of FILE, without '# '.
header_comment() {
    awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$1"
}

# handle_help ARGS...: when an argument is -h or --help, print the script's
# comment (and the environment every script reads) and exit 0.
handle_help() {
    local arg
    for arg in "$@"; do
        if [[ "$arg" == -h || "$arg" == --help ]]; then
            header_comment "$SCRIPT_PATH"
            echo
            header_comment "$ENPROMPT_ROOT/scripts/enprompt/common.sh" \
                | sed -n '/^Environment read by every script:/,/^$/p'
            exit 0
        fi
    done
}

# abspath PATH: PATH made absolute against the current folder.
abspath() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}

# usage_error: print the Usage line of the script's comment and exit with status 2.
usage_error() {
    grep '^# Usage:' "$SCRIPT_PATH" | sed 's/^# //' >&2
    echo "Run it with --help for the details." >&2
    exit 2
}

check_int() {  # check_int NAME VALUE
    [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"
}

# setup_env: check $DATA, resolve $OUTPUT and $PYTHON, change to the repo root.
# Sets DATA_ROOT, OUTPUT_ROOT, PYTHON.
setup_env() {
    if [[ -z "${DATA:-}" ]]; then
        die "DATA is not set. Set it to the folder that holds the datasets, e.g." \
            "'export DATA=/path/to/data' (layout: docs/DATASETS.md)."
    fi
    [[ -d "$DATA" ]] || die "DATA=$DATA is not a directory. Set DATA to the folder" \
        "that holds the datasets (layout: docs/DATASETS.md)."
    DATA_ROOT=$(cd "$DATA" && pwd)
    if [[ -n "${OUTPUT:-}" ]]; then
        OUTPUT_ROOT=$(abspath "$OUTPUT")
    else
        OUTPUT_ROOT="$ENPROMPT_ROOT/output"
    fi
    if [[ -z "${PYTHON:-}" ]]; then
        if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "Python interpreter '$PYTHON' not found; set PYTHON."
    # Absolute from here on, so that scripts called by this one (reproduce_*.sh)
    # see the same folders after the change to the repository root.
    export DATA="$DATA_ROOT" OUTPUT="$OUTPUT_ROOT" PYTHON
    cd "$ENPROMPT_ROOT"
}

# setup_run: for a run of $TRAINER on $DATASET with seed $SEED and config $CFG,
# check those, then set up the environment (setup_env).
setup_run() {
    check_int SEED "$SEED"
    setup_env
    check_dataset "$DATASET"
    check_cfg "$CFG"
}

# check_dataset NAME: configs/datasets/NAME.yaml must exist (run after setup_env).
check_dataset() {
    if [[ ! -f "configs/datasets/$1.yaml" ]]; then
        local names
        names=$(cd configs/datasets && ls -- *.yaml | sed 's/\.yaml$//' | tr '\n' ' ')
        die "unknown dataset '$1': there is no configs/datasets/$1.yaml. Choose one of: $names"
    fi
}

# check_cfg NAME: configs/trainers/EnPrompt/NAME.yaml must exist (run after setup_env).
check_cfg() {
    [[ -f "configs/trainers/$TRAINER/$1.yaml" ]] || die "no trainer config" \
        "configs/trainers/$TRAINER/$1.yaml (set CFG to a file name of that folder, without .yaml)"
}

# shots_from_opts DEFAULT [KEY VALUE ...]: the value that follows
# DATASET.NUM_SHOTS among the options, else DEFAULT. The run folder's
# shots_K / _Kshots part then names the shots the run really uses.
shots_from_opts() {
    local shots=$1
    shift
    while [[ $# -gt 0 ]]; do
        if [[ "$1" == DATASET.NUM_SHOTS && $# -ge 2 ]]; then
            shots=$2
            shift
        fi
        shift
    done
    check_int DATASET.NUM_SHOTS "$shots"
    printf '%s\n' "$shots"
}

# train_py ARGS...: run train.py (from the repository root), with $LAUNCHER
# when set. With ENPROMPT_PRINT_TRAIN_ARGS=1 (what `python -m enprompt.sweep`
# uses to plan), print ARGS NUL-separated instead and exit 0.
train_py() {
    if [[ "${ENPROMPT_PRINT_TRAIN_ARGS:-0}" == 1 ]]; then
        printf '%s\0' "$@"
        exit 0
    fi
    if [[ -n "${LAUNCHER:-}" ]]; then
        local launcher
        read -r -a launcher <<< "$LAUNCHER"
        echo "Running: ${launcher[*]} train.py $*"
        "${launcher[@]}" train.py "$@"
        return
    fi
    echo "Running: $PYTHON train.py $*"
    "$PYTHON" train.py "$@"
}

# run_enprompt DIR [ARGS...]: train.py for $DATASET, $SEED and config $CFG with
# output folder DIR; ARGS (further flags first, then KEY VALUE options) follow.
# train.py skips a finished run of the same experiment, resumes an unfinished
# one, and refuses a folder that holds another experiment (OVERWRITE=1 passes
# --overwrite: start over in that folder).
run_enprompt() {
    local dir=$1
    shift
    local overwrite=()
    [[ "${OVERWRITE:-0}" == 1 ]] && overwrite=(--overwrite)
    train_py \
        --root "$DATA_ROOT" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/$DATASET.yaml" \
        --config-file "configs/trainers/$TRAINER/$CFG.yaml" \
        --output-dir "$dir" \
        ${overwrite[@]+"${overwrite[@]}"} \
        "$@"
}

# train_enprompt DIR [ARGS...]: train into DIR (run_enprompt).
train_enprompt() {
    run_enprompt "$@"
}

# eval_enprompt DIR MODEL_DIR [ARGS...]: evaluate the finished model of
# MODEL_DIR (--eval-only) into DIR; ARGS (KEY VALUE options) follow. train.py
# loads the final checkpoint of the finished training run and refuses an
# unfinished one; LOADEP=N evaluates model.pth.tar-N instead (a partial result
# when it is not the final one).
eval_enprompt() {
    local dir=$1 model_dir=$2
    shift 2
    local epoch=()
    if [[ -n "${LOADEP:-}" ]]; then
        check_int LOADEP "$LOADEP"
        epoch=(--load-epoch "$LOADEP")
    fi
    run_enprompt "$dir" \
        --model-dir "$model_dir" \
        ${epoch[@]+"${epoch[@]}"} \
        --eval-only \
        "$@"
}

set -euo pipefail
handle_help "$@"
