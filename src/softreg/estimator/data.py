"""softreg's data for the estimators: the arrays that ``softreg evaluate`` reads for a spec."""

from __future__ import annotations

import os
from typing import Any


def load_split(spec: str, split: str = "train", *,
               data_dir: str | os.PathLike[str] | None = None,
               offline: bool = False) -> tuple[Any, Any]:
    """``(X, y)`` of one split of the data ``spec`` names, as softreg's commands see it.

    X (n, D) float32 is the raw features a checkpoint's weights take: pixels / 255 for
    images, a table's values as they are; y (n,) the class indices 0..C-1 (the data's class
    names are ``softreg.data.load(spec).class_names``). Data without a test split of its own
    is split as ``softreg train`` and ``softreg evaluate`` split it (a stratified 20%, seed
    0), so that an estimator fitted on ``"train"`` and saved with ``save(path, data=spec)``
    is evaluated on rows it did not see.

    Raises:
        ValueError: ``split`` is not ``train`` or ``test``.
        ConfigError, DataError, DataNotFoundError: as :func:`softreg.data.load`.
    """
    from softreg.core.config import TrainConfig
    from softreg.fitting.splits import load_dataset, prepare_splits

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    config = TrainConfig(data=spec)
    ds = load_dataset(config, None if data_dir is None else str(data_dir), offline)
    part = prepare_splits(config, dataset=ds, scale=False)[split]
    return part.X, part.y
