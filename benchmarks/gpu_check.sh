#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, the chapter and the other commands through the
# command line on the GPU, then the GPU timings of packed training (benchmarks/gpu_timings.py)
# and of the estimator's lbfgs (benchmarks/bench_sklearn.py --only gpu). One go, about two
# minutes on an H100 (each step has its own time limit): every step runs even when one before
# it fails, and the summary at the end names the failed ones (exit status 1); Ctrl-C stops it.
# Without a usable CUDA GPU it stops at once with a message and exit status 1.
#   Run from the repository root: bash benchmarks/gpu_check.sh   (PY=python3 to choose Python)
# It reads the real Fashion-MNIST offline: where the data is not installed system-wide (a lent
# device machine gets only the work tree), put the four IDX .gz files in a folder of the tree
# (e.g. fmnist/, git-ignored: carry it) and set SOFTREG_DATA_DIR=fmnist.
set -uo pipefail
PY="${PY:-python}"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU usable by PyTorch here (or PyTorch missing): nothing measured." >&2
    echo "  Run this on a machine with a CUDA GPU and a CUDA build of torch." >&2
    exit 1
fi
"$PY" -c 'import numpy, torch; print("CUDA device:", torch.cuda.get_device_name(0), "| torch",
torch.__version__, "| CUDA", torch.version.cuda, "| numpy", numpy.__version__)'

failed=()
current=""  # the running step's timeout process
stop() {  # stop CODE: end the running step (timeout passes SIGTERM on to it), then exit CODE
    if [[ -n $current ]]; then
        kill -TERM "$current" 2>/dev/null
        wait "$current" 2>/dev/null
    fi
    echo "gpu_check: interrupted" >&2
    exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
step() {  # step NAME SECONDS COMMAND...: run one step under a time limit, note a failure, go on
    local name=$1 limit=$2
    shift 2
    echo "== gpu_check: $name"
    local t0=$SECONDS
    # in the background, waited for: the wait, unlike a command in the foreground, returns at
    # once on Ctrl-C or SIGTERM, whose trap then ends the step (timeout runs the step in a
    # process group of its own, which the terminal's Ctrl-C does not reach)
    timeout "$limit" "$@" &
    current=$!
    wait "$current"
    local rc=$?
    current=""
    echo "== gpu_check: $name: exit $rc after $((SECONDS - t0)) s"
    ((rc == 0)) || failed+=("$name (exit $rc)")
}

run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
step "CUDA pack tests" 240 env SOFTREG_REQUIRE=torch,data "$PY" -m pytest -q -p no:cacheprovider \
    -m cuda tests/fitting/test_pack.py
step "CUDA backend, run and CLI tests" 240 env SOFTREG_REQUIRE=torch "$PY" -m pytest -q \
    -p no:cacheprovider -k cuda tests/backends/test_torch_backend.py tests/jobs/test_run.py \
    tests/cli/test_cli_train.py
# the chapter's configuration through the command line, on the GPU: training, report, checkpoint
step "softreg train --device cuda" 120 "$PY" -m softreg train --framework torch --device cuda \
    --out "$run_dir/chapter" --quiet
step "softreg evaluate of that checkpoint" 60 "$PY" -m softreg evaluate "$run_dir/chapter"
# the other commands on the GPU: seeds, resume, early stopping, other data, a sweep, lr-find,
# evaluate, predict, explain, export (benchmarks/gpu_commands.sh)
step "softreg's commands on cuda" 300 bash benchmarks/gpu_commands.sh cuda
step "packed-training timings" 240 "$PY" benchmarks/gpu_timings.py
# softreg.SoftmaxRegression (issue 24): the CUDA objective test, then the full Fashion-MNIST lbfgs
# fit on the GPU against scikit-learn's final objective (target: under 1 s on an H100/H200).
step "CUDA estimator tests" 120 env SOFTREG_REQUIRE=torch,sklearn "$PY" -m pytest -q \
    -p no:cacheprovider -m cuda tests/estimator/test_solver.py tests/estimator/test_devices.py
step "estimator lbfgs timings" 180 "$PY" benchmarks/bench_sklearn.py --only gpu

if ((${#failed[@]})); then
    printf 'gpu_check: FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "gpu_check: every step passed"
