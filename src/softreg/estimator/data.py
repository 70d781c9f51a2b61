"""softreg's data for the estimators: the arrays that ``softreg evaluate`` reads for a spec."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from softreg.core.config import TrainConfig

# The data kinds whose label column can be named: the tables (``--label-column``'s).
TABLE_KINDS = ("csv", "parquet")


def load_split(spec: str, split: str = "train", *, label_column: str | None = None,
               data_dir: str | os.PathLike[str] | None = None,
               offline: bool = False) -> tuple[Any, Any]:
    """``(X, y)`` of one split of the data ``spec`` names, as softreg's commands see it.

    X (n, D) float32 is the raw features a checkpoint's weights take: pixels / 255 for
    images, a table's values as they are; y (n,) the class indices 0..C-1 (the data's class
    names are ``softreg.data.load(spec).class_names``). Data without a test split of its own
    is split as ``softreg train`` and ``softreg evaluate`` split it (a stratified 20%, seed
    0), so that an estimator fitted on ``"train"`` and saved with ``save(path, data=spec)``
    is evaluated on rows it did not see.

    ``label_column``: a table's (``csv:``, ``parquet:``) label column, as the commands'
    ``--label-column`` (default: the column named ``label``, ``class``, ``target`` or ``y``);
    save the estimator with the same ``save(path, data=spec, label_column=...)``.

    Raises:
        ValueError: ``split`` is not ``train`` or ``test``; ``label_column`` is given for data
            that is not a table (it would be ignored), or is not printable text.
        ConfigError, DataError, DataNotFoundError: as :func:`softreg.data.load` (DataError: a
            table without the ``label_column`` named, or without one of the usual names).
    """
    from softreg.fitting.splits import load_dataset, prepare_splits

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    config = data_settings(spec, label_column)
    ds = load_dataset(config, None if data_dir is None else str(data_dir), offline)
    part = prepare_splits(config, dataset=ds, scale=False)[split]
    return part.X, part.y


def data_settings(spec: str, label_column: str | None) -> TrainConfig:
    """The settings the commands read ``spec`` with, ``label_column`` (None or ``""``: the
    usual names) among them: those of ``--data spec --label-column NAME``.

    Raises:
        ValueError: ``label_column`` is not printable text (a ConfigError), or is given for
            data that is not a table: the commands refuse ``--label-column`` for it, since it
            would be ignored.
        ConfigError: a spec that does not parse.
    """
    from softreg.core.config import TrainConfig
    from softreg.data.spec import parse

    config = TrainConfig(data=spec, label_column="" if label_column is None else label_column)
    if config.label_column and parse(config.data).kind not in TABLE_KINDS:
        raise ValueError(f"label_column is a table's (csv:, parquet:) setting, and data "
                         f"{spec!r} is not one: it would be ignored; leave label_column out")
    return config
