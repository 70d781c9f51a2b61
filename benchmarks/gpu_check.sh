#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, then the GPU timings of packed training
# (benchmarks/gpu_timings.py). One go, under 8 minutes. Without a usable CUDA GPU it stops at
# once with a message and exit status 1.
#   Run from the repository root: bash benchmarks/gpu_check.sh   (PY=python to choose Python)
# It reads the real Fashion-MNIST offline: where the data is not installed system-wide (a lent
# device machine gets only the work tree), put the four IDX .gz files in a folder of the tree
# (e.g. fmnist/, git-ignored: carry it) and set SOFTREG_DATA_DIR=fmnist.
set -euo pipefail
PY="${PY:-python}"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU usable by PyTorch here (or PyTorch missing): nothing measured." >&2
    echo "  Run this on a machine with a CUDA GPU and a CUDA build of torch." >&2
    exit 1
fi
"$PY" -c 'import torch; print("CUDA device:", torch.cuda.get_device_name(0))'
timeout 240 env SOFTREG_REQUIRE=torch,data "$PY" -m pytest -q -m cuda tests/fitting/test_pack.py
timeout 240 env SOFTREG_REQUIRE=torch "$PY" -m pytest -q -k cuda tests/backends/test_torch_backend.py tests/jobs/test_run.py tests/cli/test_cli_train.py
timeout 240 "$PY" benchmarks/gpu_timings.py
# softreg.SoftmaxRegression (issue 24): the CUDA objective test, then the full Fashion-MNIST lbfgs
# fit on the GPU against scikit-learn's final objective (target: under 1 s on an H100/H200).
timeout 120 env SOFTREG_REQUIRE=torch,sklearn "$PY" -m pytest -q -m cuda tests/estimator/test_solver.py
timeout 180 "$PY" benchmarks/bench_sklearn.py --only gpu   # CUDA rows: unmeasured until a GPU runs this
