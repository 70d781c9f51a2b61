"""softreg: train, check and explain softmax-regression classifiers.

Importing this package is cheap: it pulls in no deep-learning framework and no
plotting library. Pick a framework explicitly, e.g. ``from softreg import torch as d2l``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from softreg import _moved

__version__ = "0.1.0"

__all__ = ["SoftmaxRegression", "SoftmaxRegressionCV", "TrainConfig", "__version__", "fit_many"]

# the flat module paths of softreg 0.1.0 still import (softreg._moved lists them)
_moved.install()

if TYPE_CHECKING:
    from softreg.core.config import TrainConfig
    from softreg.estimator import SoftmaxRegression, SoftmaxRegressionCV
    from softreg.fitting.pack_plan import fit_many


def __getattr__(name: str) -> Any:
    # Lazy: ``import softreg`` stays light; the training code loads on first use.
    if name == "fit_many":
        from softreg.fitting.pack_plan import fit_many

        return fit_many
    if name == "TrainConfig":
        from softreg.core.config import TrainConfig

        return TrainConfig
    if name in ("SoftmaxRegression", "SoftmaxRegressionCV"):
        # scikit-learn and scipy load only when an estimator is asked for
        from softreg import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'softreg' has no attribute {name!r}")
