"""Fashion-MNIST loading: first load (no decoded cache) against the cached load, side by side.

Prints, for both splits together (``load_fashion_mnist("train")`` + ``("test")``):
* the first load into an empty cache folder: locate, decompress, check, hash, write the .npy
  cache (best of ``--repeats``, each into a fresh folder);
* the same decode with the cache turned off (what every load would cost without it);
* the cached load: key check, memory-map, re-hash of the arrays (median and best of
  ``--loads``), against the issue's budget of 0.2 s;
* the ratio first / cached.
The source .gz files are in the OS page cache after the first run, so disk speed is not measured.

Run: ``PYTHONPATH=src python benchmarks/bench_data.py [--data-dir D] [--repeats 3] [--loads 10]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from _record import record

from softreg.data import load_fashion_mnist, load_verified, locate

BUDGET_S = 0.2


def load_both(data_dir: str | None) -> float:
    """Seconds to load the train and test splits through the public API."""
    t0 = time.perf_counter()
    for split in ("train", "test"):
        images, labels = load_fashion_mnist(split, data_dir=data_dir, offline=True)
        if images.shape[0] != labels.shape[0]:
            raise RuntimeError(f"{split}: {images.shape[0]} images, {labels.shape[0]} labels")
    return time.perf_counter() - t0


def decode_without_cache(data_dir: str | None) -> float:
    """Seconds to decode and verify the four files with the cache off."""
    found = locate(None, data_dir=data_dir, offline=True)
    t0 = time.perf_counter()
    for f in found:
        load_verified(f.spec, f.path, use_cache=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="folder with the four files [search]")
    ap.add_argument("--repeats", type=int, default=3, help="first loads, each in a fresh cache")
    ap.add_argument("--loads", type=int, default=10, help="cached loads timed")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          "(other processes slow every number here)")
    for f in locate(None, data_dir=args.data_dir, offline=True):
        print(f"  {f.spec.filename}: {f.origin} {f.path}")
    old = os.environ.get("SOFTREG_CACHE_DIR")
    firsts: list[float] = []
    cached: list[float] = []
    try:
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="softreg-bench-") as folder:
                os.environ["SOFTREG_CACHE_DIR"] = folder
                firsts.append(load_both(args.data_dir))
                if not cached:  # time the cached loads against this cache
                    cached = [load_both(args.data_dir) for _ in range(args.loads)]
        nocache = min(decode_without_cache(args.data_dir) for _ in range(args.repeats))
    finally:
        if old is None:
            os.environ.pop("SOFTREG_CACHE_DIR", None)
        else:
            os.environ["SOFTREG_CACHE_DIR"] = old
    first, median, best = min(firsts), statistics.median(cached), min(cached)
    verdict = "within" if median < BUDGET_S else "OVER"
    print(f"first load, both splits, empty cache:  {first:.3f} s (best of {args.repeats})")
    print(f"decode + verify with the cache off:    {nocache:.3f} s (best of {args.repeats})")
    print(f"cached load, both splits:              {median:.4f} s median, {best:.4f} s best of "
          f"{args.loads} ({verdict} the {BUDGET_S} s budget)")
    print(f"ratio first / cached (median):         {first / median:.1f}x")
    record("first load vs cached load of both splits", first / median)


if __name__ == "__main__":
    main()
