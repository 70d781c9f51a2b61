"""Per-epoch training history and its files (metrics.csv, history.json)."""

from __future__ import annotations

import io
import math
import os
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from softreg.core.errors import HistoryError
from softreg.safety import fileio
from softreg.safety.textsafe import shown

# Column order of metrics.csv; val_* stay empty when no validation split is used.
COLUMNS = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr",
    "seconds",
)


class Status(str, Enum):
    """How a run (or one configuration of a sweep) ended. A ``str``: it compares equal to,
    prints as and is written to JSON as its value, e.g. ``"completed"``."""

    COMPLETED = "completed"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"
    EARLY_STOPPED = "early_stopped"
    FAILED = "failed"  # a sweep configuration that could not be trained (never in a history)

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]


# What a history may end with, and the endings whose model a sweep may choose.
STATUSES = (Status.COMPLETED, Status.DIVERGED, Status.INTERRUPTED, Status.EARLY_STOPPED)
SELECTABLE = (Status.COMPLETED, Status.EARLY_STOPPED)
_FIELDS = ("status", "message", "epochs")
_REQUIRED = ("epoch", "train_loss", "train_acc")  # EpochRecord's fields without a default


@dataclass
class EpochRecord:
    """Metrics of one finished epoch (``epoch`` counts from 1)."""

    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float = math.nan
    test_acc: float = math.nan
    val_loss: float = math.nan
    val_acc: float = math.nan
    lr: float = math.nan
    seconds: float = 0.0


@dataclass(repr=False)
class History:
    """All epoch records of a run, plus how the run ended.

    ``status`` is ``"completed"``, ``"diverged"``, ``"interrupted"`` or ``"early_stopped"``;
    ``message`` explains anything but a normal end.
    """

    records: list[EpochRecord] = field(default_factory=list)
    status: str = Status.COMPLETED
    message: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        # Short on purpose: train_ch3 returns a History, and a notebook cell that ends with the
        # call shows this line, not every record.
        last = self.last
        if last is None:
            return f"History(0 epochs, {self.status})"
        shown = [f"{name.replace('_', ' ')} {getattr(last, name):.4f}" for name in
                 ("train_loss", "train_acc", "val_acc", "test_acc")
                 if not math.isnan(getattr(last, name))]
        return f"History({len(self)} epochs, {self.status}; last: {', '.join(shown)})"

    def column(self, name: str) -> list[float]:
        """Values of one metric over the epochs, e.g. ``history.column("test_acc")``."""
        return [float(getattr(r, name)) for r in self.records]

    @property
    def last(self) -> EpochRecord | None:
        return self.records[-1] if self.records else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "epochs": [asdict(r) for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: Any) -> History:
        """Rebuild a history from :meth:`to_dict` output (JSON null back to NaN), checking it.

        Raises:
            HistoryError: ``data`` is not such a dict: an unknown field or status, a record
                with an unknown or missing field or a value that is not a number, or epochs
                that are not 1, 2, ... in order. The message names the field.
        """
        if not isinstance(data, dict):
            raise HistoryError(f"a history must be a JSON object with {', '.join(_FIELDS)}, "
                               f"got {shown(data)}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise HistoryError(f"history field {shown(unknown[0])} is unknown; a history holds "
                               f"{', '.join(_FIELDS)}")
        status, message = data.get("status", Status.COMPLETED), data.get("message", "")
        if not isinstance(status, str) or status not in STATUSES:
            raise HistoryError(f"history 'status' must be one of {', '.join(STATUSES)}, "
                               f"got {shown(status)}")
        if not isinstance(message, str):
            raise HistoryError(f"history 'message' must be a string, got {shown(message)}")
        epochs = data.get("epochs", [])
        if not isinstance(epochs, list):
            raise HistoryError(f"history 'epochs' must be a list of records, got {shown(epochs)}")
        return cls([_record(rec, i) for i, rec in enumerate(epochs, start=1)], status, message)

    def to_csv(self) -> str:
        buf = io.StringIO()
        buf.write(",".join(COLUMNS) + "\n")
        for rec in self.records:
            row = []
            for col in COLUMNS:
                value = getattr(rec, col)
                if isinstance(value, float):
                    row.append("" if math.isnan(value) else f"{value:.6g}")
                else:
                    row.append(str(value))
            buf.write(",".join(row) + "\n")
        return buf.getvalue()

    def files(self, folder: str | os.PathLike[str]) -> dict[Path, bytes]:
        """The contents of ``history.json`` and ``metrics.csv`` in ``folder``, by path."""
        folder = Path(folder)
        return {folder / "history.json": fileio.json_bytes(self.to_dict()),
                folder / "metrics.csv": self.to_csv().encode("utf-8")}

    def write(self, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``metrics.csv`` and ``history.json`` into ``folder``, together."""
        json_path, csv_path = fileio.write_together(self.files(folder))
        return csv_path, json_path


def _record(rec: Any, number: int) -> EpochRecord:
    """Record ``number`` (from 1) of a saved history, checked field by field."""
    where = f"history record {number}"
    if not isinstance(rec, dict):
        raise HistoryError(f"{where} must be a JSON object of metrics, got {shown(rec)}")
    names = [f.name for f in fields(EpochRecord)]
    unknown = sorted(set(rec) - set(names))
    if unknown:
        raise HistoryError(f"{where} has unknown field {shown(unknown[0])}; known fields: "
                           f"{', '.join(names)}")
    missing = [n for n in _REQUIRED if n not in rec]
    if missing:
        raise HistoryError(f"{where} has no field {missing[0]!r}")
    epoch = rec["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch != number:
        raise HistoryError(f"{where}: 'epoch' must be {number} (epochs are 1, 2, ... in "
                           f"order), got {shown(epoch)}")
    values: dict[str, Any] = {"epoch": epoch}
    for name, value in rec.items():
        if name == "epoch":
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise HistoryError(f"{where}: {name!r} must be a number (or null), got {shown(value)}")
        values[name] = math.nan if value is None else float(value)
    return EpochRecord(**values)
