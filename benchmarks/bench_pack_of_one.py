"""A single run as a pack of one against the single-model kernel it replaced, side by side.

softreg trains a single run with the packed kernel (a pack of one), so that one code path
serves both. This benchmark checks what that costs: the chapter's epochs (batch 256, lr 0.1,
real Fashion-MNIST, torch on the CPU, one thread) with the packed kernel, and with the
single-model kernel the torch backend used before packs (the loop below, as it stood in
src/softreg/backends/torch_backend.py at commit fa1d1b1), in alternating rounds on the same
data, weights and orders. Prints each round's CPU seconds and the median ratio; the issue's
limit is 1.05. Also checks that the two kernels give the same weights. The old loop has the
step's denormal guard added (one clamp, as in the packed step since 2026-12-02; its own cost is
measured by ``bench_denormal.py``), so that the ratio is the packing's cost alone.

Run: ``python benchmarks/bench_pack_of_one.py [--rounds 12] [--epochs 10]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _record import record

from softreg.backends.torch_backend import LOG_TINY


def old_epoch(be, data, order, batch_size, lr, wd):  # the loop before packs
    torch, F = be.torch, be.F
    idx = torch.from_numpy(order.astype(np.int64))
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    rows_per_step = max(1, min(batch_size, idx.shape[0]))
    minus_one = torch.full((1, rows_per_step), -1.0)
    W, b = be.W[0], be.b[0, :, 0]  # the pack of one's (10, 784) and (10,) views
    b_col = b.unsqueeze(1)  # (10, 1)
    xbuf = torch.empty((rows_per_step, data.X.shape[1]))
    with torch.no_grad():
        for start in range(0, idx.shape[0], batch_size):
            rows = idx[start : start + batch_size]
            m = rows.shape[0]
            xb = torch.index_select(data.X, 0, rows, out=xbuf[:m])  # (m, 784)
            yb = data.y.index_select(0, rows).unsqueeze(0)  # (1, m)
            logits = torch.addmm(b_col, W, xb.t())  # (10, m)
            log_p = F.log_softmax(logits, dim=0)
            loss_sum -= log_p.gather(0, yb).sum()
            correct += (logits.max(dim=0, keepdim=True).indices == yb).sum()
            # the denormal guard the packed step gained later (bench_denormal.py): here too,
            # so that the ratio measures the packing alone
            grad = log_p.clamp_(min=LOG_TINY).exp_().scatter_add_(0, yb, minus_one[:, :m])
            if wd:
                W.mul_(1.0 - lr * wd)
            W.addmm_(grad, xb, alpha=-lr / m)  # (10, 784)
            b.sub_(grad.sum(dim=1), alpha=lr / m)
    return float(loss_sum), int(correct)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    import torch

    from softreg.backends import get_backend
    from softreg.core.config import TrainConfig
    from softreg.fitting.splits import prepare_splits
    from softreg.fitting.trainer import epoch_order, initial_params

    torch.set_num_threads(1)
    train = prepare_splits(TrainConfig(), offline=True)["train"]
    be = get_backend("torch", "cpu")
    data = be.put_data(train.X, train.y)
    orders = [epoch_order(0, e, len(train.y)) for e in range(args.epochs)]
    W0, b0 = initial_params(0)

    def run(kernel: str) -> tuple[float, np.ndarray]:
        be.set_params(W0, b0)
        t0 = time.process_time()
        for order in orders:
            if kernel == "pack of one":
                be.train_epoch(data, order, 256, 0.1)
            else:
                old_epoch(be, data, order, 256, 0.1, 0.0)
        return time.process_time() - t0, be.get_params()[0]

    run("pack of one"), run("before packs")  # warm-up
    ratios = []
    for r in range(args.rounds):
        first, second = ("pack of one", "before packs") if r % 2 == 0 else ("before packs",
                                                                             "pack of one")
        times, weights = {}, {}
        for kernel in (first, second):
            times[kernel], weights[kernel] = run(kernel)
        ratio = times["pack of one"] / times["before packs"]
        ratios.append(ratio)
        print(f"round {r + 1:2d}: pack of one {times['pack of one']:.3f} s, before packs "
              f"{times['before packs']:.3f} s CPU for {args.epochs} epochs; ratio {ratio:.3f}")
    diff = float(np.max(np.abs(weights["pack of one"] - weights["before packs"])))
    print(f"median ratio (pack of one / before packs): {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); limit 1.05; "
          f"max |weight difference| after {args.epochs} epochs: {diff:.2g}")
    record("a single run as a pack of one vs the kernel before packs", statistics.median(ratios),
           better="lower", target=1.05)


if __name__ == "__main__":
    main()
