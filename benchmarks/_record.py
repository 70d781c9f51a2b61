"""Benchmark results as JSON lines, for the figures of the docs' benchmarks page.

Each benchmark prints its side-by-side ratios; where ``$SOFTREG_BENCH_JSON`` names a file
(``make bench`` sets it), each ratio is also appended to it as one JSON object:
``{"benchmark", "what", "ratio", "better", "target", "host", "date"}``.
``scripts/bench_figures.py`` draws the bar charts from that file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path


def record(what: str, ratio: float, *, better: str = "higher",
           target: float | None = None) -> None:
    """Append one side-by-side ratio to ``$SOFTREG_BENCH_JSON`` (nothing when it is unset).

    Args:
        what: what was compared, e.g. "torch backend vs a d2l-style pipeline (epoch time)".
        ratio: the measured ratio (e.g. the median of alternating rounds).
        better: "higher" if a larger ratio is the better result, "lower" otherwise.
        target: the target the benchmark states for this ratio, if any.
    """
    path = os.environ.get("SOFTREG_BENCH_JSON")
    if not path:
        return
    row = {"benchmark": Path(sys.argv[0]).name, "what": what, "ratio": round(float(ratio), 4),
           "better": better, "target": target, "host": platform.node(),
           "cpus": os.cpu_count(),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
