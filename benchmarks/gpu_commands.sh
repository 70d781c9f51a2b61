#!/usr/bin/env bash
# softreg's commands on one device, each once, small: the ways a user with a GPU trains (the
# default --device auto picks it), checked to finish and to agree with the CPU where they must.
# benchmarks/gpu_check.sh runs it with cuda; with cpu it runs anywhere (about a minute).
#   Run from the repository root: bash benchmarks/gpu_commands.sh cuda   (PY=python3 to choose)
# Exit status: the number of commands that failed (0: all finished).
set -uo pipefail
DEV="${1:?usage: gpu_commands.sh DEVICE (cuda or cpu)}"
PY="${PY:-python}"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
trap 'echo "gpu_commands: interrupted" >&2; exit 130' INT
trap 'echo "gpu_commands: terminated" >&2; exit 143' TERM
failed=0
sr() {  # sr ARGS...: one softreg command; its last line shown, a failure counted
    local log="$out/log" rc
    # --foreground: the command stays in this script's process group, so that a limit on the
    # whole script (gpu_check.sh's) or Ctrl-C reaches it too
    timeout --foreground 180 "$PY" -m softreg "$@" >"$log" 2>&1
    rc=$?
    if ((rc == 0)); then
        echo "ok   softreg $* | $(grep -v '^\s*$' "$log" | tail -n 1)"
    else
        echo "FAIL softreg $* (exit $rc):"
        tail -n 15 "$log"
        failed=$((failed + 1))
    fi
}
# a pack of seeds, then its chapter-sized run resumed to more epochs
sr train --device "$DEV" --seeds 0,1,2 --epochs 3 --out "$out/seeds" --quiet
sr train --device "$DEV" --epochs 3 --out "$out/short" --quiet
sr train --resume "$out/short" --epochs 5 --quiet
# early stopping on a validation split, with a schedule
sr train --device "$DEV" --epochs 6 --val-split 0.1 --patience 2 --lr-schedule cosine \
    --out "$out/early" --quiet
# other data: a scikit-learn table
sr train --device "$DEV" --data sklearn:digits --epochs 5 --out "$out/digits" --quiet
# a packed sweep with its refit, and the learning-rate range test
sr sweep --device "$DEV" --lr 0.1,0.3 --weight-decay 0,1e-4 --epochs 2 --refit \
    --out "$out/sweep" --quiet
sr lr-find --device "$DEV" --num 20 --epochs 1 --out "$out/lr"
# a checkpoint used on the device, and the commands that read a run
sr evaluate "$out/digits" --framework torch --device "$DEV"
"$PY" -c 'import numpy as np, sys; np.save(sys.argv[1], np.zeros((28, 28), np.uint8))' \
    "$out/blank.npy"
sr predict "$out/short" "$out/blank.npy" --framework torch --device "$DEV"
sr explain "$out/early"
sr export "$out/short" --format torch --out "$out/short.pt"
echo "gpu_commands on $DEV: $failed failed"
exit "$failed"
