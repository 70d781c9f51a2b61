"""Run the book-section programs of one framework, each as a script, in one process.

    python examples/book/run_sections.py torch [SECTION ...] [--subset N] [--seed S] [--json F]

Each program in examples/book/<framework>/ runs with ``runpy`` as ``__main__`` (the framework
is imported once for all of them); what it prints goes to stdout as usual, and the summary of
each (ok or the error, its ``book:`` line, seconds) is written to ``--json``. ``--subset N``
hands the Fashion-MNIST sections the first N training and N/6 test examples (a quick run:
the tests use it, with ``SOFTREG_BOOK_QUICK=1`` for fewer epochs).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import runpy
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _subset(n: int) -> None:
    import softreg.data

    full = softreg.data.load_fashion_mnist

    def load(split="train", *args, **kwargs):
        images, labels = full(split, *args, **kwargs)
        keep = n if split == "train" else max(n // 6, 1)
        return images[:keep], labels[:keep]

    softreg.data.load_fashion_mnist = load


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, s):
        for stream in self.streams:
            stream.write(s)
        return len(s)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def _seed(framework: str, seed: int) -> None:
    """Seed Python, NumPy and the framework before a program (the book's cells do not)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if framework == "torch":
        import torch

        torch.manual_seed(seed)
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(seed)
    else:
        import mxnet as mx

        mx.random.seed(seed)


def run(path: Path) -> dict:
    buf = io.StringIO()
    start = time.perf_counter()
    result: dict = {"section": path.stem}
    with contextlib.redirect_stdout(_Tee(sys.stdout, buf)):
        print(f"== {path.parent.name}/{path.name}")
        try:
            runpy.run_path(str(path), run_name="__main__")
            result["ok"] = True
        except BaseException as exc:  # a section's failure is its result, not the run's
            result["ok"] = False
            result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
            traceback.print_exc(file=sys.stdout)
    result["seconds"] = round(time.perf_counter() - start, 2)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith("book: ")]
    if lines:
        result["book"] = ast.literal_eval(lines[-1].removeprefix("book: "))
    result["output"] = buf.getvalue()[-3000:]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("framework", choices=["torch", "tensorflow", "mxnet"])
    p.add_argument("sections", nargs="*", help="program names (stems); all by default")
    p.add_argument("--subset", type=int, default=0)
    p.add_argument("--json", help="write the per-section summary here")
    p.add_argument("--seed", type=int, help="seed the generators before each program")
    args = p.parse_args(argv)
    if args.subset:
        _subset(args.subset)
    programs = sorted((HERE / args.framework).glob("sec*.py"),
                      key=lambda q: [int(x) for x in q.stem.split("_")[0][3:].split(".")]
                      + [int(q.stem.split("_")[1])])
    if args.sections:
        programs = [q for q in programs if q.stem in args.sections]
    results = []
    for q in programs:
        if args.seed is not None:
            _seed(args.framework, args.seed)
        results.append(run(q))
        if args.json:  # after each program: a long run that is stopped keeps what it did
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    for r in results:
        print(f"{r['section']:45s} {'ok' if r['ok'] else 'FAILED: ' + r['error']} "
              f"({r['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
