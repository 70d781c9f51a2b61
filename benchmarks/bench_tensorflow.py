"""TensorFlow: softreg's training paths against Keras ``model.fit``, measured side by side.

Prints
* the LinearBackend's time for the chapter configuration's 10 epochs (training only, and with
  the per-epoch test evaluation), final train loss and test accuracy over several seeds;
* the d2l facade's ``train_ch3`` on the chapter's Keras program (10 epochs, curves included);
* Keras ``model.fit`` on the same net (batch 256, SGD 0.1, the same data as in-memory arrays),
  seconds per epoch after a warm-up epoch, and the ratio to each softreg path.

Run: ``python benchmarks/bench_tensorflow.py [--seeds 3] [--fit-epochs 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from softreg.backends import get_backend
from softreg.backends._tf import import_tensorflow
from softreg.config import TrainConfig
from softreg.loop import run_epochs
from softreg.training import LinearTrainer, initial_params, prepare_splits

tf = import_tensorflow()
keras = tf.keras


def softreg_epochs(splits, backend, seed: int, evaluate: bool) -> tuple[float, float, float]:
    cfg = TrainConfig(framework="tensorflow", seed=seed)
    trainer = LinearTrainer(backend, cfg, splits)
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


def chapter_net():
    net = keras.models.Sequential()
    net.add(keras.layers.Flatten(input_shape=(28, 28)))
    net.add(keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(0, 0.01)))
    return net


def chapter_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def facade_chapter() -> tuple[float, float]:
    """The chapter's program through ``softreg.tensorflow.train_ch3`` (10 epochs)."""
    from softreg import tensorflow as d2l

    keras.utils.set_random_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    net = chapter_net()
    t0 = time.perf_counter()
    hist = d2l.train_ch3(net, train_iter, test_iter, chapter_loss(), 10,
                         keras.optimizers.SGD(learning_rate=0.1))
    return time.perf_counter() - t0, hist.last.test_acc


class EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times = [*getattr(self, "times", []), time.perf_counter() - self.t0]


def keras_fit(splits, epochs: int) -> tuple[float, float]:
    """``model.fit`` per-epoch seconds (warm-up epoch excluded) and its test accuracy."""
    keras.utils.set_random_seed(0)
    X = splits["train"].X.reshape(-1, 28, 28, 1)
    y = splits["train"].y.astype(np.int32)
    net = chapter_net()
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=chapter_loss(),
                metrics=["accuracy"])
    timer = EpochTimes()
    net.fit(X, y, batch_size=256, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    _, acc = net.evaluate(splits["test"].X.reshape(-1, 28, 28, 1),
                          splits["test"].y.astype(np.int32), batch_size=10000, verbose=0)
    return float(np.mean(timer.times[1:])), float(acc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fit-epochs", type=int, default=3)
    args = ap.parse_args()
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, {os.cpu_count()} cores")
    splits = prepare_splits(TrainConfig())
    backend = get_backend("tensorflow", "cpu")
    softreg_epochs(splits, backend, 0, False)  # warm-up: trace the epoch and evaluation graphs
    runs = [softreg_epochs(splits, backend, s, True) for s in range(args.seeds)]
    train_only = min(softreg_epochs(splits, backend, 0, False)[0] for _ in range(3))
    with_eval = min(r[0] for r in runs)
    print(f"LinearBackend, 10 epochs: {train_only:.3f} s training only, {with_eval:.3f} s with "
          "the per-epoch test evaluation (best of runs)")
    for seed, (_, loss, acc) in enumerate(runs):
        print(f"  seed {seed}: final train loss {loss:.4f}  test acc {acc:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SOFTREG_FIGURE_DIR"] = tmp
        facade_s, facade_acc = facade_chapter()
    print(f"d2l facade train_ch3 (chapter program, 10 epochs, first trace and PNG included): "
          f"{facade_s:.3f} s, test acc {facade_acc:.4f}")
    fit_epoch, fit_acc = keras_fit(splits, args.fit_epochs)
    ours_epoch = train_only / 10
    print(f"Keras model.fit (batch 256, SGD 0.1, in-memory arrays): {fit_epoch:.3f} s/epoch "
          f"(mean of {args.fit_epochs - 1} epochs after a warm-up; test acc {fit_acc:.4f})")
    print(f"LinearBackend: {ours_epoch:.4f} s/epoch -> {fit_epoch / ours_epoch:.1f}x faster "
          "than model.fit")
    print(f"d2l facade: {facade_s / 10:.4f} s/epoch with evaluation -> "
          f"{fit_epoch / (facade_s / 10):.1f}x model.fit's training-only time")


if __name__ == "__main__":
    main()
