"""Draw the benchmarks' side-by-side ratios as one bar chart, from their JSON lines.

Usage: ``python scripts/bench_figures.py RESULTS.jsonl [OUT.png]`` (default
``docs/img/benchmarks.png``). The JSON lines are what the benchmarks append to
``$SOFTREG_BENCH_JSON`` (``make bench`` sets it; see ``benchmarks/_record.py``). The newest row
of each comparison is drawn. Every bar is a speed-up, "how many times faster softreg's side
is": a ratio where lower is better (overheads) is drawn as its inverse. Targets are marked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def newest(rows: list[dict]) -> list[dict]:
    """The last row of each (benchmark, what), in the order first seen."""
    latest: dict[tuple[str, str], dict] = {}
    for row in rows:
        latest[(row["benchmark"], row["what"])] = row
    return list(latest.values())


def speedup(value: float, better: str) -> float:
    """A ratio as "times faster": lower-is-better ratios are inverted."""
    return value if better == "higher" else 1.0 / value


def draw(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = newest(rows)
    labels = [f"{r['what']}\n({r['benchmark']}, {r['date']})" for r in rows]
    values = [speedup(r["ratio"], r["better"]) for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.2), dpi=100)
    ys = range(len(rows))
    ax.barh(ys, values, color=["#3b7dd8" if v >= 1 else "#d8613b" for v in values])
    for y, r, v in zip(ys, rows, values, strict=True):
        ax.text(v * 1.04, y, f"{v:.2f}x", va="center", fontsize=8)
        if r.get("target") is not None:
            t = speedup(float(r["target"]), r["better"])
            ax.plot([t, t], [y - 0.4, y + 0.4], color="black", lw=1.5)
    ax.set_yticks(list(ys), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("times faster (side by side, one run; black ticks: targets)")
    ax.set_xlim(min(min(values), 1.0) / 1.5, max(values) * 2.0)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[0])
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if not rows:
        print(f"{source}: no benchmark results in it", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) == 2 else Path("docs/img/benchmarks.png")
    draw(rows, out)
    print(f"{len(newest(rows))} comparisons drawn: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
