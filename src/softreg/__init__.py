"""softreg: train, check and explain softmax-regression classifiers.

Importing this package is cheap: it pulls in no deep-learning framework and no
plotting library. Pick a framework explicitly, e.g. ``from softreg import torch as d2l``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
