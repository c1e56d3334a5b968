# Shared by the scripts of scripts/enprompt/ (sourced, not run by itself).
#
# Environment read by every script:
#   DATA    (required) folder that holds the datasets (train.py --root)
#   OUTPUT  output root (default: <repo>/output); a relative path is taken
#           relative to the folder the script is called from
#   CFG     trainer config name under configs/trainers/EnPrompt/ (default:
#           the protocol's config), e.g. for an ablation copy of a config
#   PYTHON  the Python interpreter (default: python, else python3)
#
# Scripts run from any folder: they change to the repository root and call
# `python train.py` there, as in every CoOp-family code base. Their output
# folders are those of enprompt/protocols.py (the layout enprompt.results
# reads; a test checks that the two agree).

ENPROMPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The script that sources this file, as an absolute path.
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")"
TRAINER=EnPrompt
# Name under which the EnPrompt trainer registers its learnable model; its
# checkpoints are <run>/prompt_learner/model.pth.tar-N.
MODEL_NAME=prompt_learner

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

# skip_if_finished DIR [--test-log]: exit 0 when a log in DIR holds a finished
# result (training: "Finish training" + "=> result"; eval: "=> result"), so
# that rerunning a benchmark only runs what is missing.
skip_if_finished() {
    local dir=$1
    shift
    local result
    if result=$("$PYTHON" -m enprompt.logparse "$dir" "$@"); then
        echo "The results exist at $dir (so skip this job): $result"
        echo "Delete that folder to run it again."
        exit 0
    fi
    if [[ -f "$dir/$MODEL_NAME/checkpoint" ]]; then
        echo "Found an unfinished run in $dir: train.py resumes it from its last checkpoint."
    fi
}

# last_epoch MODEL_DIR: print N of the last checkpoint that training saved in
# MODEL_DIR (<MODEL_DIR>/prompt_learner/checkpoint names model.pth.tar-N).
last_epoch() {
    local model_dir=$1 pointer name epoch
    [[ -d "$model_dir" ]] || die "model folder $model_dir does not exist. Run the training" \
        "script for this dataset and seed first (or set OUTPUT/CFG to where it was trained)."
    pointer="$model_dir/$MODEL_NAME/checkpoint"
    [[ -f "$pointer" ]] || die "$pointer is missing: $model_dir holds no saved" \
        "$TRAINER model. Run (or finish) the training script for this dataset and seed first."
    name=$(head -n 1 "$pointer" | tr -d '[:space:]')
    [[ "$name" =~ ^model\.pth\.tar-([0-9]+)$ ]] || die "$pointer names '$name';" \
        "expected model.pth.tar-N (the last-epoch checkpoint of a training run)."
    epoch=${BASH_REMATCH[1]}
    [[ -f "$model_dir/$MODEL_NAME/$name" ]] || die "$pointer names $name, but" \
        "$model_dir/$MODEL_NAME/$name does not exist."
    if ! "$PYTHON" -m enprompt.logparse "$model_dir" --quiet; then
        echo "Warning: no log in $model_dir says the training finished; evaluating its" \
            "last saved checkpoint ($name)." >&2
    fi
    printf '%s\n' "$epoch"
}

# train_py ARGS...: run train.py (from the repository root).
train_py() {
    echo "Running: $PYTHON train.py $*"
    "$PYTHON" train.py "$@"
}

# run_enprompt DIR [ARGS...]: train.py for $DATASET, $SEED and config $CFG with
# output folder DIR; ARGS (further flags first, then KEY VALUE options) follow.
run_enprompt() {
    local dir=$1
    shift
    train_py \
        --root "$DATA_ROOT" \
        --seed "$SEED" \
        --trainer "$TRAINER" \
        --dataset-config-file "configs/datasets/$DATASET.yaml" \
        --config-file "configs/trainers/$TRAINER/$CFG.yaml" \
        --output-dir "$dir" \
        "$@"
}

# train_enprompt DIR [ARGS...]: train into DIR (run_enprompt), unless DIR holds
# a finished run; an interrupted one resumes from its last checkpoint.
train_enprompt() {
    skip_if_finished "$1"
    run_enprompt "$@"
}

# eval_enprompt DIR MODEL_DIR [ARGS...]: evaluate the last epoch that training
# saved in MODEL_DIR (--eval-only) into DIR, unless DIR holds a finished
# evaluation; ARGS (KEY VALUE options) follow.
eval_enprompt() {
    local dir=$1 model_dir=$2 epoch
    shift 2
    skip_if_finished "$dir" --test-log
    epoch=$(last_epoch "$model_dir")
    run_enprompt "$dir" \
        --model-dir "$model_dir" \
        --load-epoch "$epoch" \
        --eval-only \
        "$@"
}
