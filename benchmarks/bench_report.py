"""The cost of a run's report, before and after its figures moved from matplotlib to Pillow.

Prints, measured side by side in one run:

* the time of ``report.write_outputs`` (metrics files, the four figures, the explain sections,
  calibration.json, report.md) on the same run folder with the same inputs, with the figures
  drawn as they were before (matplotlib: ``imshow`` panels, ``savefig`` with a tight bounding
  box, kept here as ``old_*``) and as they are now (Pillow). The first call of each in this
  process is printed apart (it imports its plotting library), then the median of alternating
  rounds; in English and, when a Hangul font is installed, in Korean (``--labels ko``);
* the wall time of a whole ``softreg train`` process (the chapter configuration, torch, report
  included) against a hand-written in-memory PyTorch loop doing the same training (the IDX
  files read with gzip and NumPy, tensors in memory, ``nn.Linear``, cross-entropy, SGD, the
  train loss/accuracy and the test accuracy every epoch; it writes no files), in alternating
  rounds, each in a fresh process: their medians and the median of the rounds' ratios.

Run: ``python benchmarks/bench_report.py [--rounds 5] [--process-rounds 5]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from _record import record

HAND_WRITTEN = "--hand-written"


# ---- the figures as they were drawn before (matplotlib), for the "before" side ----

def old_image_grid(images: Any, titles: Sequence[str] | None = None, path: Any = None,
                   ncols: int = 8, scale: float = 1.5, font_file: str | None = None) -> Path:
    """image_grid as it was: one matplotlib imshow axes per image, savefig(bbox 'tight')."""
    import math

    from softreg.plots._mpl import pyplot, save_figure
    from softreg.plots.images import _as_stack

    arr = _as_stack(images)
    n = arr.shape[0]
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    vmax = 1.0 if arr.dtype != np.uint8 and float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
    with _old_fonts(font_file):
        plt = pyplot()
        height = nrows * scale * (1.3 if titles is not None else 1.0)
        fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, height), squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if i >= n:
                continue
            ax.imshow(arr[i], cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
        fig.tight_layout()
        return save_figure(fig, path)


def old_plot_curves(history: Any, path: Any, title: str = "", text: Any = None) -> Path:
    """plot_curves as it was: pyplot subplots, draw_curves, savefig(bbox 'tight')."""
    from softreg.plots._mpl import pyplot, save_figure
    from softreg.plots.curves import draw_curves
    from softreg.plots.labels import FigureText

    words = text or FigureText()
    with words.fonts():
        fig, ax = pyplot().subplots(figsize=(5.5, 3.8))
        draw_curves(ax, history, words)
        if title:
            ax.set_title(title)
        return save_figure(fig, path)


def old_plot_confusion(cm: Any, names: Sequence[str], path: Any, title: str = "",
                       text: Any = None) -> Path:
    """plot_confusion as it was: the matplotlib confusion_figure, savefig(bbox 'tight')."""
    from softreg.plots._mpl import save_figure
    from softreg.plots.confusion import confusion_figure
    from softreg.plots.labels import FigureText

    words = text or FigureText()
    with words.fonts():
        return save_figure(confusion_figure(cm, names, title, words), path)


@contextmanager
def _old_fonts(font_file: str | None) -> Iterator[None]:
    """The rc font setting the old report put around its grid (``text.fonts()``)."""
    if font_file is None:
        yield
        return
    from softreg.plots.labels import figure_text

    with figure_text("ko").fonts():
        yield


@contextmanager
def old_figures() -> Iterator[None]:
    """Inside this block the report draws its figures with the old matplotlib code."""
    from softreg.plots import confusion, curves, images

    saved = images.image_grid, curves.plot_curves, confusion.plot_confusion
    images.image_grid = old_image_grid  # type: ignore[assignment]
    curves.plot_curves = old_plot_curves  # type: ignore[assignment]
    confusion.plot_confusion = old_plot_confusion  # type: ignore[assignment]
    try:
        yield
    finally:
        images.image_grid, curves.plot_curves, confusion.plot_confusion = saved


# ---- the report, on one run folder ----

def chapter_run(folder: Path) -> tuple[tuple[Any, ...], dict[str, Any], float]:
    """Train the chapter's run into ``folder``; return write_outputs' arguments and the time
    of that first call (the new figures, plotting imports included)."""
    from softreg.core.config import TrainConfig
    from softreg.jobs import report, run

    captured: dict[str, Any] = {}
    real = report.write_outputs

    def spy(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        files = real(*args, **kwargs)
        captured.update(args=args, kwargs=kwargs, seconds=time.perf_counter() - t0)
        return files

    report.write_outputs = spy  # type: ignore[assignment]
    try:
        run.train_run(TrainConfig(framework="torch"), folder, quiet=True)
    finally:
        report.write_outputs = real  # type: ignore[assignment]
    return captured["args"], captured["kwargs"], captured["seconds"]


def timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def compare_reports(args: tuple[Any, ...], kwargs: dict[str, Any], first_new: float,
                    rounds: int) -> None:
    from softreg.jobs import report
    from softreg.plots import labels

    def write(old: bool, language: str) -> Callable[[], Any]:
        def call() -> Any:
            if old:
                with old_figures():
                    return report.write_outputs(*args, **{**kwargs, "labels": language})
            return report.write_outputs(*args, **{**kwargs, "labels": language})
        return call

    if "matplotlib" in sys.modules:
        raise SystemExit("the new report imported matplotlib")
    first_old = timed(write(True, "en"))
    print(f"report.write_outputs on the chapter's run folder, first call in the process "
          f"(imports included): before {first_old:.3f} s, after {first_new:.3f} s")
    languages = ["en"] + (["ko"] if labels.find_hangul_font() is not None else [])
    if len(languages) == 1:
        print("  (no Hangul font installed: Korean labels not measured)")
    for language in languages:
        before, after = [], []
        for _ in range(rounds):
            before.append(timed(write(True, language)))
            after.append(timed(write(False, language)))
        ratios = [b / a for b, a in zip(before, after, strict=True)]
        print(f"  --labels {language}, {rounds} alternating rounds: before median "
              f"{statistics.median(before):.3f} s (min {min(before):.3f}), after median "
              f"{statistics.median(after):.3f} s (min {min(after):.3f}): "
              f"{statistics.median(ratios):.1f}x faster (median of the rounds' ratios)")
        record(f"report of the chapter's run, matplotlib figures vs Pillow ({language})",
               statistics.median(ratios))


# ---- the whole process against a hand-written loop ----

def hand_written(folder: str) -> None:
    """The chapter's training written by hand: in-memory tensors, no library but torch."""
    import torch

    def idx(name: str, offset: int) -> np.ndarray:
        with gzip.open(os.path.join(folder, name)) as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784) / np.float32(255))
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784) / np.float32(255))
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.manual_seed(0)
    net = torch.nn.Linear(784, 10)
    torch.nn.init.normal_(net.weight, std=0.01)
    torch.nn.init.zeros_(net.bias)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for epoch in range(10):
        total, correct = torch.zeros(()), torch.zeros(())
        for batch in torch.randperm(len(ytr)).split(256):
            X, y = xtr[batch], ytr[batch]
            out = net(X)
            loss = loss_fn(out, y)
            opt.zero_grad()
            (loss / len(y)).backward()
            opt.step()
            total += loss.detach()
            correct += (out.argmax(1) == y).sum()
        with torch.no_grad():
            test_acc = float((net(xte).argmax(1) == yte).float().mean())
        print(f"epoch {epoch + 1}: train loss {float(total) / len(ytr):.4f}, train acc "
              f"{float(correct) / len(ytr):.4f}, test acc {test_acc:.4f}")


def wall(command: list[str]) -> float:
    """Seconds a whole process takes, from its start to its exit."""
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def compare_processes(rounds: int) -> None:
    from softreg.data.sources import locate

    folder = str(locate("train")[0].path.parent)
    ours_t, theirs_t, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            ours = wall([sys.executable, "-m", "softreg", "train", "--framework", "torch",
                         "--out", f"{tmp}/run-{r}", "--quiet"])
            theirs = wall([sys.executable, __file__, HAND_WRITTEN, folder])
            ours_t.append(ours)
            theirs_t.append(theirs)
            ratios.append(ours / theirs)
            print(f"  round {r + 1}: softreg train {ours:.2f} s, hand-written loop "
                  f"{theirs:.2f} s -> {ours / theirs:.2f}")
    print(f"whole process, {rounds} alternating rounds: softreg train median "
          f"{statistics.median(ours_t):.2f} s, hand-written in-memory torch loop median "
          f"{statistics.median(theirs_t):.2f} s: softreg takes {statistics.median(ratios):.2f} "
          "of the loop's wall time (median of the rounds' ratios; target <= 0.6)")
    record("whole softreg train process / a hand-written in-memory torch loop",
           statistics.median(ratios), better="lower", target=0.6)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == HAND_WRITTEN:
        hand_written(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="alternating report rounds")
    ap.add_argument("--process-rounds", type=int, default=5,
                    help="alternating rounds of the two whole processes")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        call_args, call_kwargs, first_new = chapter_run(Path(tmp) / "run")
        compare_reports(call_args, call_kwargs, first_new, args.rounds)
    compare_processes(args.process_rounds)


if __name__ == "__main__":
    main()
