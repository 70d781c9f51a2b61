"""``softreg numerics``: the chapter's argument as a table: naive softmax-then-log cross-entropy
against softreg's stable one, for growing logit scales and for float16, float32 and float64.

The logits of the table are ``scale * [1, 0, -1]``. "top" is the loss when the true class is
the largest logit (exact value log1p(e^-s + e^-2s), tiny), "bottom" when it is the smallest
(exact value 2s + log1p(e^-s + e^-2s), huge). Naively, exp(z) overflows to inf once z is above
log(largest float) (inf/inf = nan) and underflows to 0 below log(smallest float) (log 0 = -inf,
a loss of inf); and 1 + tiny rounds to 1, so the small loss of a confident prediction becomes 0.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from softreg.core.errors import ConfigError

DEFAULT_SCALES = (1.0, 10.0, 50.0, 100.0, 1000.0, 1e4, 1e38, 1e300)
DTYPE_NAMES = ("float16", "float32", "float64")
PATTERN = (1.0, 0.0, -1.0)  # logits = scale * PATTERN
HEADER = ("scale", "dtype", "naive top", "stable top", "naive bottom", "stable bottom")
WIDTHS = (8, 8, 12, 12, 13, 13)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "numerics",
        help="show why cross-entropy is computed from the logits (naive vs stable table)",
        description="Print, for growing logit scales and float16/float32/float64, the "
        "cross-entropy computed naively (softmax, then log) next to softreg's stable "
        "log-sum-exp version, and each dtype's overflow and underflow thresholds.",
    )
    p.add_argument("--scales", type=float, nargs="+", metavar="S", default=list(DEFAULT_SCALES),
                   help="logit scales s; logits are s * [1, 0, -1] [1 10 50 100 1000 1e4 1e38 "
                   "1e300]")
    p.set_defaults(run=run)


def naive_cross_entropy(logits: Any, label: int) -> float:
    """``-log(softmax(logits)[label])`` in the logits' own dtype: the way not to do it.

    Args:
        logits: 1-D NumPy array of one example's logits.
        label: index of the true class.

    Returns:
        The loss as a Python float: often ``nan``, ``inf`` or ``0`` at large scales.
    """
    import numpy as np

    with np.errstate(all="ignore"):
        e = np.exp(logits)
        probs = e / e.sum(dtype=logits.dtype)
        return float(-np.log(probs[label]))


def _fmt(value: float) -> str:
    return f"{value:.5g}" if math.isfinite(value) else str(value)


def _row(cells: tuple[str, ...]) -> str:
    return "  ".join(c.rjust(w) for c, w in zip(cells, WIDTHS, strict=True))


def table_rows(scales: list[float]) -> list[tuple[str, ...]]:
    """One row per (scale, dtype): scale, dtype, naive and stable losses for top and bottom."""
    import numpy as np

    from softreg.core.numerics import cross_entropy

    rows: list[tuple[str, ...]] = []
    for scale in scales:
        for name in DTYPE_NAMES:
            dtype = np.dtype(name)
            if scale * max(map(abs, PATTERN)) > float(np.finfo(dtype).max):
                rows.append((f"{scale:g}", name, "logits overflow " + name, "", "", ""))
                continue
            z = np.array(PATTERN, dtype=np.float64) * scale
            z = z.astype(dtype)  # (3,)
            top, bottom = 0, len(PATTERN) - 1
            pair = np.stack([z, z])  # (2, 3): the same logits, labelled top and bottom
            stable = cross_entropy(pair, [top, bottom], reduction="none")  # (2,)
            cells = (naive_cross_entropy(z, top), float(stable[0]),
                     naive_cross_entropy(z, bottom), float(stable[1]))
            rows.append((f"{scale:g}", name, *(_fmt(v) for v in cells)))
    return rows


def thresholds() -> list[str]:
    """Lines giving log(largest) and log(smallest positive) float of each dtype."""
    import numpy as np

    lines = []
    for name in DTYPE_NAMES:
        info = np.finfo(name)
        tiny = float(info.smallest_subnormal)  # numpy >= 1.22
        lines.append(
            f"  {name}: exp(z) = inf above log({float(info.max):.5g}) = "
            f"{math.log(float(info.max)):.2f};  exp(z) = 0 below log({tiny:.3g}) = "
            f"{math.log(tiny):.2f}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    scales = [float(s) for s in args.scales]
    bad = [s for s in scales if not (math.isfinite(s) and s > 0)]
    if bad:
        raise ConfigError(f"--scales must be finite numbers > 0, got {bad[0]}; e.g. --scales 1 100")
    print("Cross-entropy of the logits s * [1, 0, -1]: 'top' = true class is the largest logit,")
    print("'bottom' = the smallest. naive = -log(softmax(z)[y]) in the dtype itself;")
    print("stable = softreg.core.numerics.cross_entropy "
          "(log-sum-exp with log1p; float16 -> float32).")
    print()
    print(_row(HEADER))
    for row in table_rows(scales):
        print(_row(row) if row[3] else f"{row[0].rjust(WIDTHS[0])}  {row[1].rjust(WIDTHS[1])}"
              f"  {row[2]}")
    print()
    print("Thresholds:")
    for line in thresholds():
        print(line)
    return 0
