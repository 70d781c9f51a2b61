"""The estimator benchmark's sections still run: a small run of the ones that time the issue's
targets (the Fashion-MNIST section ended in a traceback for sessions, the estimator's
``_theta`` having gone, and nothing ran it)."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_sklearn_sections_run_on_small_data(real_data):
    need("sklearn")
    need("torch")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_sklearn.py"), "--only",
         "fmnist,digits", "--n-fmnist", "500"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for line in ("softreg numpy: reaches it in", "softreg torch: reaches it in",
                 "evaluation numpy:", "reaches newton-cg's objective in"):
        assert line in out, out[-2000:]
    assert "Traceback" not in done.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
