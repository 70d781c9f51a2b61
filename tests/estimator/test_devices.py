"""The estimator with torch on each device: each solver, the CV pack, partial_fit and a saved
model agree with NumPy on the CPU. The CUDA half runs where there is a GPU (marked ``cuda``:
benchmarks/gpu_check.sh runs it), the CPU half everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need

need("sklearn")
torch = need("torch")

from sklearn.datasets import load_digits  # noqa: E402

from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV  # noqa: E402


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request, monkeypatch):
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA GPU")
        # float32 products, as on the CPU (restored after the test)
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    return request.param


def _digits(n=600):
    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n]


def test_lbfgs_on_float64_input_matches_numpy(device):
    X, y = _digits()
    X64 = X.astype(np.float64)
    a = SoftmaxRegression(C=1.0, tol=1e-6, max_iter=500).fit(X64, y)
    b = SoftmaxRegression(C=1.0, tol=1e-6, max_iter=500, framework="torch",
                          device=device).fit(X64, y)
    assert abs(a.objective_ - b.objective_) < 1e-5 * a.objective_
    assert np.abs(a.predict_proba(X64) - b.predict_proba(X64)).max() < 1e-3
    assert (a.predict(X64) == b.predict(X64)).mean() > 0.99


def test_cv_pack_chooses_the_numpy_c(device):
    X, y = _digits()
    a = SoftmaxRegressionCV(Cs=5, cv=3).fit(X, y)
    b = SoftmaxRegressionCV(Cs=5, cv=3, framework="torch", device=device).fit(X, y)
    assert np.allclose(a.C_, b.C_)
    assert np.abs(a.scores_ - b.scores_).max() <= 2 / 200  # two of a fold's 200 rows
    assert (a.predict(X) == b.predict(X)).mean() > 0.99


def test_sgd_and_partial_fit_learn_on_the_device(device):
    X, y = _digits()
    m = SoftmaxRegression(solver="sgd", epochs=30, random_state=0, framework="torch",
                          device=device).fit(X, y)
    assert m.score(X, y) > 0.88  # 0.917 with torch on the CPU
    p = SoftmaxRegression(solver="sgd", random_state=0, framework="torch", device=device)
    for part in np.array_split(np.arange(len(y)), 4):
        p.partial_fit(X[part], y[part], classes=np.arange(10))
    assert p.score(X, y) > 0.75  # 0.833 with torch on the CPU


def test_a_model_fitted_on_the_device_saves_and_loads_on_the_cpu(tmp_path, device):
    X, y = _digits()
    m = SoftmaxRegression(C=1.0, framework="torch", device=device).fit(X, y)
    path = tmp_path / "model.safetensors"
    m.save(path)
    back = SoftmaxRegression.load(path)
    assert isinstance(back.coef_, np.ndarray) and back.coef_.shape == (10, 64)
    assert np.abs(back.predict_proba(X) - m.predict_proba(X)).max() < 1e-6
