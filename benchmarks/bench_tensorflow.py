"""TensorFlow: softreg's training paths against Keras ``model.fit``, measured side by side.

Prints
* the LinearBackend's time for the chapter configuration's 10 epochs (training only, and with
  the per-epoch test evaluation), final train loss and test accuracy over several seeds;
* the d2l facade on the chapter's Keras program and Keras ``model.fit`` on the same net (batch
  256, SGD 0.1, the same data as in-memory arrays), like for like: both warmed up by a one-epoch
  call on the same objects, both timed as whole calls, once training only (``train_epoch_ch3``
  per epoch vs ``fit``) and once with a test evaluation every epoch (``train_ch3``, which also
  writes one PNG at the end, vs ``fit(validation_data=test)``), with the ratios;
* the LinearBackend's training-only time per epoch against ``model.fit``'s.

Run: ``python benchmarks/bench_tensorflow.py [--seeds 3] [--epochs 10]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import numpy as np
from _record import record

from softreg.backends import get_backend
from softreg.backends._tf import import_tensorflow
from softreg.core.config import TrainConfig
from softreg.epochs.loop import run_epochs
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import LinearTrainer, initial_params

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


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def facade_chapter(epochs: int) -> tuple[float, float, float]:
    """The chapter's program through ``softreg.tensorflow``, warmed up like ``keras_fit``.

    A one-epoch ``train_ch3`` on the same objects traces the training and evaluation graphs
    (later calls reuse them); the weights are then put back to their initial values.
    Returns seconds for ``epochs`` x ``train_epoch_ch3`` (training only), seconds for
    ``train_ch3(..., epochs, ...)`` (per-epoch test evaluation and one PNG at the end), and the
    test accuracy after that ``train_ch3``.
    """
    from softreg import tensorflow as d2l

    keras.utils.set_random_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    net, loss = chapter_net(), chapter_loss()
    trainer = keras.optimizers.SGD(learning_rate=0.1)
    initial = net.get_weights()
    d2l.train_ch3(net, train_iter, test_iter, loss, 1, trainer)  # warm-up: traces both graphs
    train_s = timed(lambda: [d2l.train_epoch_ch3(net, train_iter, loss, trainer)
                             for _ in range(epochs)])
    net.set_weights(initial)
    hist = []
    full_s = timed(lambda: hist.append(d2l.train_ch3(net, train_iter, test_iter, loss, epochs,
                                                     trainer)))
    return train_s, full_s, hist[0].last.test_acc


def keras_fit(splits, epochs: int) -> tuple[float, float, float]:
    """``model.fit`` on in-memory arrays, warmed up by a one-epoch ``fit`` (which builds and
    traces its train and validation functions; later calls reuse them), weights put back.

    Returns seconds for ``fit(epochs=epochs)`` (training only; loss and accuracy metrics),
    seconds for ``fit(epochs=epochs, validation_data=test)`` (per-epoch test evaluation), and
    the test accuracy after that second fit.
    """
    keras.utils.set_random_seed(0)
    X = splits["train"].X.reshape(-1, 28, 28, 1)  # (60000, 28, 28, 1)
    y = splits["train"].y.astype(np.int32)
    test = (splits["test"].X.reshape(-1, 28, 28, 1), splits["test"].y.astype(np.int32))
    net = chapter_net()
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=chapter_loss(),
                metrics=["accuracy"])
    initial = net.get_weights()

    def fit(n: int, validate: bool) -> Any:
        return net.fit(X, y, batch_size=256, epochs=n, shuffle=True, verbose=0,
                       validation_data=test if validate else None, validation_batch_size=256)

    fit(1, validate=True)  # warm-up: traces the train and the validation functions
    train_s = timed(lambda: fit(epochs, validate=False))
    net.set_weights(initial)
    hist = []
    full_s = timed(lambda: hist.append(fit(epochs, validate=True)))
    return train_s, full_s, float(hist[0].history["val_accuracy"][-1])


def ratio(ours: float, fit: float) -> str:
    return f"{fit / ours:.2f}x model.fit's speed" if ours > 0 else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10,
                    help="timed epochs for the facade and model.fit (default 10)")
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
    e = args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SOFTREG_FIGURE_DIR"] = tmp
        f_train, f_full, f_acc = facade_chapter(e)
    k_train, k_full, k_acc = keras_fit(splits, e)
    print(f"All timings below: {e} epochs of batch 256, SGD 0.1, after a one-epoch warm-up call "
          "on the same objects (graphs traced), wall time of the whole call")
    print(f"Keras model.fit, in-memory arrays: {k_train:.3f} s training only; {k_full:.3f} s "
          f"with validation_data=test every epoch (test acc {k_acc:.4f})")
    print(f"LinearBackend: {train_only:.3f} s for 10 epochs training only (best of 3) -> "
          f"{train_only / 10:.4f} s/epoch vs model.fit's {k_train / e:.4f}: "
          f"{ratio(train_only / 10, k_train / e)}")
    record("TensorFlow backend vs Keras model.fit, per epoch", (k_train / e) / (train_only / 10),
           target=3)
    record("TensorFlow train_ch3 vs model.fit with validation", k_full / f_full)
    print(f"d2l facade, {e} x train_epoch_ch3 (training only): {f_train:.3f} s vs model.fit "
          f"training only {k_train:.3f} s: {ratio(f_train, k_train)}")
    print(f"d2l facade, train_ch3 (per-epoch test evaluation, one PNG at the end): "
          f"{f_full:.3f} s vs model.fit with validation_data {k_full:.3f} s: "
          f"{ratio(f_full, k_full)} (test acc {f_acc:.4f})")


if __name__ == "__main__":
    main()
