"""Per-epoch training history and its files (metrics.csv, history.json)."""

from __future__ import annotations

import io
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from softreg import fileio

# Column order of metrics.csv; val_* stay empty when no validation split is used.
COLUMNS = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr",
    "seconds",
)


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
    status: str = "completed"
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
    def from_dict(cls, data: dict[str, Any]) -> History:
        records = []
        for rec in data.get("epochs", []):
            values: dict[str, Any] = {k: (math.nan if v is None else v) for k, v in rec.items()}
            records.append(EpochRecord(**values))
        return cls(records, data.get("status", "completed"), data.get("message", ""))

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
