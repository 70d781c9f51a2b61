"""Progress reporting for the epoch loop: a tqdm bar in a terminal, plain lines otherwise."""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from softreg.epochs.history import EpochRecord


def format_header(with_val: bool) -> str:
    cols = ["epoch", "train_loss", "train_acc"]
    if with_val:
        cols += ["val_loss", "val_acc"]
    cols += ["test_acc", "seconds"]
    return "  ".join(f"{c:>10}" for c in cols)


def format_row(rec: EpochRecord, with_val: bool) -> str:
    vals: list[str] = [f"{rec.epoch:>10d}", _f(rec.train_loss), _f(rec.train_acc)]
    if with_val:
        vals += [_f(rec.val_loss), _f(rec.val_acc)]
    vals += [_f(rec.test_acc), f"{rec.seconds:>10.3f}"]
    return "  ".join(vals)


def _f(x: float) -> str:
    return f"{'nan':>10}" if math.isnan(x) else f"{x:>10.4f}"


class EpochProgress:
    """Reports each finished epoch.

    In a terminal (and with tqdm installed) a bar counts epochs and the table rows are printed
    above it; when output is redirected, one plain line per epoch. ``quiet`` prints nothing.
    """

    def __init__(
        self,
        total_epochs: int,
        *,
        with_val: bool = False,
        stream: TextIO | None = None,
        quiet: bool = False,
        initial: int = 0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.with_val = with_val
        self.quiet = quiet
        self._bar: Any = None
        if quiet:
            return
        isatty = getattr(self.stream, "isatty", lambda: False)()
        if isatty:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(
                    total=total_epochs, initial=initial, unit="epoch", file=sys.stderr,
                    leave=False, dynamic_ncols=True,
                )
        self._print(format_header(with_val))

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def update(self, rec: EpochRecord) -> None:
        if self.quiet:
            return
        self._print(format_row(rec, self.with_val))
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{rec.train_loss:.4f}", test_acc=f"{rec.test_acc:.4f}")
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
