"""MXNet: softreg's training paths against a d2l-style Gluon pipeline, measured side by side.

Prints
* softreg's LinearBackend on the chapter configuration: time for 10 epochs (training only, and
  with the per-epoch test evaluation), final train loss and test accuracy over several seeds;
* the chapter's Gluon program through ``softreg.mxnet.train_ch3`` (Dense(10), gluon.Trainer,
  whole-split batches): time for 10 epochs, final accuracies;
* the same Gluon model through a d2l-style pipeline written here: a Dataset with a
  per-example ``ToTensor`` transform, ``gluon.data.DataLoader(shuffle=True, num_workers=4)``,
  ``float()`` host syncs every batch; and the ratios of the per-epoch times;
* the wall time and peak RSS of a whole ``softreg train --framework mxnet`` process.

Run (in the MXNet environment):
``.venv-mxnet/bin/python benchmarks/bench_mxnet.py [--seeds 3] [--baseline-epochs 2]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import mxnet as mx
import numpy as np
from _record import record
from mxnet import autograd, gluon, init, npx
from mxnet.gluon import nn

from softreg.backends import get_backend
from softreg.core.config import TrainConfig
from softreg.data import load_fashion_mnist
from softreg.epochs.loop import run_epochs
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import LinearTrainer, initial_params


def softreg_epochs(splits, seed: int, evaluate: bool) -> tuple[float, float, float]:
    cfg = TrainConfig(framework="mxnet", seed=seed, device="cpu")
    trainer = LinearTrainer(get_backend("mxnet", "cpu"), cfg, splits)
    trainer.restore(initial_params(seed))
    t0 = time.perf_counter()
    if evaluate:
        hist = run_epochs(trainer, cfg.epochs)
        seconds = time.perf_counter() - t0
        return seconds, hist.last.train_loss, hist.last.test_acc
    for epoch in range(cfg.epochs):
        tot = trainer.train_epoch(epoch)
    seconds = time.perf_counter() - t0
    return seconds, tot.mean_loss, trainer.evaluate("test").accuracy


def chapter_net() -> tuple[nn.Sequential, gluon.Trainer]:
    net = nn.Sequential()
    net.add(nn.Dense(10))
    net.initialize(init.Normal(sigma=0.01))
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})


def facade_chapter() -> tuple[float, float, float]:
    """The chapter program through softreg.mxnet, data loading included (figures off)."""
    from softreg import mxnet as d2l

    os.environ["SOFTREG_FIGURE_DIR"] = tempfile.mkdtemp()
    mx.random.seed(0)
    np.random.seed(0)
    t0 = time.perf_counter()
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    t_data = time.perf_counter() - t0
    net, trainer = chapter_net()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = d2l.train_ch3(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(),
                             10, trainer)
    seconds = time.perf_counter() - t0
    print(f"softreg.mxnet chapter program: data {t_data:.2f} s, train_ch3 10 epochs "
          f"{seconds:.2f} s (figure included), train loss {hist.last.train_loss:.4f}, "
          f"test acc {hist.last.test_acc:.4f}")
    return seconds, sum(r.seconds for r in hist.records), hist.last.test_acc


class PerExampleDataset(gluon.data.Dataset):
    """What Gluon's FashionMNIST dataset does: one uint8 HWC image per ``__getitem__``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels.astype(np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return mx.np.array(self.images[i][:, :, None], dtype="uint8"), self.labels[i]


def d2l_style_epochs(epochs: int) -> tuple[float, float]:
    xtr, ytr = load_fashion_mnist("train")
    xte, yte = load_fashion_mnist("test")
    to_tensor = gluon.data.vision.transforms.ToTensor()  # per example: HWC uint8 -> CHW float

    def loader(x, y, shuffle):
        dataset = PerExampleDataset(x, y).transform_first(to_tensor)
        return gluon.data.DataLoader(dataset, 256, shuffle=shuffle, num_workers=4)

    train, test = loader(xtr, ytr, True), loader(xte, yte, False)
    mx.random.seed(0)
    net, trainer = chapter_net()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        sums = [0.0, 0.0, 0.0]
        for X, y in train:
            with autograd.record():
                out = net(X)
                per_example = loss(out, y)
            per_example.backward()
            trainer.step(y.shape[0])
            sums[0] += float(per_example.sum())  # host syncs every batch, as in d2l
            sums[1] += float((out.argmax(axis=1).astype(y.dtype) == y).sum())
            sums[2] += y.size
        correct = 0.0
        for X, y in test:
            correct += float((net(X).argmax(axis=1).astype(y.dtype) == y).sum())
    return (time.perf_counter() - t0) / epochs, correct / len(yte)


def whole_process() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "softreg", "train", "--framework", "mxnet",
                        "--out", tmp + "/run", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss_mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--baseline-epochs", type=int, default=2)
    args = ap.parse_args()
    print(f"mxnet {mx.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    splits = prepare_splits(TrainConfig(framework="mxnet"))
    softreg_epochs(splits, 0, False)  # warm-up
    runs = [softreg_epochs(splits, s, True) for s in range(args.seeds)]
    train_only = min(softreg_epochs(splits, 0, False)[0] for _ in range(2))
    with_eval = min(r[0] for r in runs)
    print(f"softreg LinearBackend, 10 epochs: {train_only:.3f} s training only, {with_eval:.3f} s "
          "with the per-epoch test evaluation (best of runs)")
    for seed, (_, loss, acc) in enumerate(runs):
        print(f"  seed {seed}: final train loss {loss:.4f}  test acc {acc:.4f}")
    npx.set_np()
    _, facade_epochs, _ = facade_chapter()
    base_epoch, base_acc = d2l_style_epochs(args.baseline_epochs)
    backend_epoch, facade_epoch = with_eval / 10, facade_epochs / 10
    print(f"d2l-style Gluon pipeline (per-example ToTensor, DataLoader 4 workers, float() per "
          f"batch): {base_epoch:.3f} s/epoch over {args.baseline_epochs} epochs "
          f"(test acc {base_acc:.4f})")
    print(f"softreg.mxnet train_ch3: {facade_epoch:.4f} s/epoch -> "
          f"{base_epoch / facade_epoch:.1f}x faster than the d2l-style pipeline")
    print(f"softreg LinearBackend:   {backend_epoch:.4f} s/epoch -> "
          f"{base_epoch / backend_epoch:.1f}x faster than the d2l-style pipeline")
    record("MXNet backend vs a d2l-style Gluon pipeline, per epoch", base_epoch / backend_epoch,
           target=5)
    record("MXNet train_ch3 vs a d2l-style Gluon pipeline, per epoch", base_epoch / facade_epoch)
    npx.reset_np()
    wall, rss = whole_process()
    print(f"whole 'softreg train --framework mxnet' process (figures included): {wall:.2f} s "
          f"wall, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
