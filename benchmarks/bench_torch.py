"""PyTorch: softreg's training path against a d2l-style pipeline, measured side by side.

Prints
* the chapter configuration's time for 10 epochs (training only, and with the per-epoch test
  evaluation), final train loss and test accuracy over several seeds;
* epochs of a d2l-style pipeline written here: a per-example Dataset that turns each image into
  a tensor as torchvision's ``FashionMNIST`` + ``Compose([ToTensor()])`` do (uint8 tensors
  indexed per example, through PIL), ``DataLoader(shuffle=True, num_workers=4)``, ``float()``
  host syncs every batch. The two are measured in alternating rounds (softreg's 10 epochs, then
  one baseline epoch) so that a change in machine speed during the run hits both sides alike;
  each round's ratio is printed, then their median. A lighter per-example variant without PIL
  is measured too, so the ratio does not hang on PIL's cost alone;
* the wall time and peak RSS of a whole ``softreg train`` process.

Run: ``python benchmarks/bench_torch.py [--seeds 5] [--rounds 5]``
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

import numpy as np
import torch
from _record import record
from PIL import Image

from softreg.backends import get_backend
from softreg.core.config import TrainConfig
from softreg.data import load_fashion_mnist
from softreg.epochs.loop import run_epochs
from softreg.fitting.splits import prepare_splits
from softreg.fitting.trainer import LinearTrainer, initial_params


def softreg_epochs(splits, seed: int, device: str, evaluate: bool) -> tuple[float, float, float]:
    cfg = TrainConfig(seed=seed, device=device)
    trainer = LinearTrainer(get_backend("torch", device), cfg, splits)
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


class PerExampleDataset(torch.utils.data.Dataset):
    """A per-example Fashion-MNIST dataset, as torchvision's ``FashionMNIST`` + ``ToTensor``.

    With ``via_pil`` each item goes the way torchvision takes it: the images and labels are
    torch tensors indexed per example, the uint8 image becomes a PIL image, the transform
    (a one-element compose, as d2l builds it) turns it back into a uint8 tensor, moves it to
    channels-first, converts to float and divides by 255. Without it, a lighter variant skips
    PIL and the tensor storage (NumPy division, then one tensor): a lower bound for any
    per-example pipeline.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, via_pil: bool = True) -> None:
        self.via_pil = via_pil
        if via_pil:
            self.images = torch.from_numpy(np.array(images))  # (N, 28, 28) uint8
            self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
            self.transforms = [to_tensor]
        else:
            self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        if not self.via_pil:
            img = torch.from_numpy(np.array(self.images[i], dtype=np.float32) / 255.0)
            return img.unsqueeze(0), int(self.labels[i])  # (1, 28, 28), label
        img, label = self.images[i], int(self.labels[i])
        pic = Image.fromarray(img.numpy(), mode="L")
        for transform in self.transforms:
            pic = transform(pic)
        return pic, label


def to_tensor(pic: Image.Image) -> torch.Tensor:
    """A PIL image -> float tensor (C, H, W) in [0, 1], with torchvision's checks and steps."""
    if not isinstance(pic, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(pic)}")
    float_dtype = torch.get_default_dtype()
    hwc = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    if pic.mode == "1":
        hwc = 255 * hwc
    hwc = hwc.view(pic.size[1], pic.size[0], len(pic.getbands()))
    chw = hwc.permute((2, 0, 1)).contiguous()
    if isinstance(chw, torch.ByteTensor):
        return chw.to(dtype=float_dtype).div(255)
    return chw


def d2l_style_epochs(epochs: int, via_pil: bool) -> tuple[float, float]:
    """Seconds per epoch (training, then the test accuracy, as train_ch3 does) and the final
    test accuracy. Data loading and model set-up happen before the clock starts."""
    xtr, ytr = load_fashion_mnist("train")
    xte, yte = load_fashion_mnist("test")
    make = torch.utils.data.DataLoader
    train = make(PerExampleDataset(xtr, ytr, via_pil), batch_size=256, shuffle=True, num_workers=4)
    test = make(PerExampleDataset(xte, yte, via_pil), batch_size=256, shuffle=False, num_workers=4)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    torch.nn.init.normal_(net[1].weight, std=0.01)
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    t0 = time.perf_counter()
    for _ in range(epochs):
        sums = [0.0, 0.0, 0.0]
        for X, y in train:
            out = net(X)
            per_example = loss(out, y)
            opt.zero_grad()
            per_example.mean().backward()
            opt.step()
            sums[0] += float(per_example.sum())  # host syncs every batch, as in d2l
            sums[1] += float((out.argmax(1) == y).sum())
            sums[2] += y.numel()
        correct = 0.0
        with torch.no_grad():
            for X, y in test:
                correct += float((net(X).argmax(1) == y).sum())
    return (time.perf_counter() - t0) / epochs, correct / len(yte)


def whole_process() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "softreg", "train", "--out", tmp + "/run",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss_mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating rounds of softreg's 10 epochs and one baseline epoch")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    # First, while the only child process is softreg's own: the peak RSS of children would
    # otherwise be the DataLoader workers' of the baseline below.
    wall, rss = whole_process()
    print(f"whole 'softreg train' process (chapter config, figures included): {wall:.2f} s wall, "
          f"peak RSS {rss:.0f} MiB")
    splits = prepare_splits(TrainConfig())
    softreg_epochs(splits, 0, "cpu", False)  # warm-up (allocator, kernels)
    runs = [softreg_epochs(splits, s, "cpu", True) for s in range(args.seeds)]
    train_only = min(softreg_epochs(splits, 0, "cpu", False)[0] for _ in range(3))
    with_eval = min(r[0] for r in runs)
    print(f"softreg, 10 epochs: {train_only:.3f} s training only, {with_eval:.3f} s with the "
          "per-epoch test evaluation (best of runs)")
    for seed, (_, loss, acc) in enumerate(runs):
        print(f"  seed {seed}: final train loss {loss:.4f}  test acc {acc:.4f}")
    accs = [r[2] for r in runs]
    print(f"  test acc over {len(accs)} seeds: mean {np.mean(accs):.4f}, min {min(accs):.4f}, "
          f"max {max(accs):.4f}")
    if torch.cuda.is_available():
        softreg_epochs(splits, 0, "cuda", True)
        t, _, acc = softreg_epochs(splits, 0, "cuda", True)
        print(f"softreg on {torch.cuda.get_device_name()}: 10 epochs {t:.3f} s, test acc {acc:.4f}")
    # d2l's 4 workers on a 2-core machine, and float() of a loss that requires grad: both are
    # what the chapter does, and both make torch warn; the warnings say nothing about softreg.
    warnings.filterwarnings("ignore", category=UserWarning)
    for via_pil, what, rounds in (
        (True, "torchvision-style: tensor storage, PIL image -> ToTensor per example", args.rounds),
        (False, "lighter variant: NumPy /255 per example, no PIL", max(1, args.rounds // 2)),
    ):
        print(f"d2l-style pipeline ({what}; DataLoader 4 workers, float() per batch), "
              "training and test accuracy per epoch, against softreg's epoch with its test "
              "evaluation:")
        ratios = []
        for r in range(rounds):
            ours_epoch = softreg_epochs(splits, 0, "cpu", True)[0] / 10
            base_epoch, base_acc = d2l_style_epochs(1, via_pil)
            ratios.append(base_epoch / ours_epoch)
            print(f"  round {r + 1}: baseline {base_epoch:.3f} s/epoch (test acc {base_acc:.4f} "
                  f"after its epoch), softreg {ours_epoch:.4f} s/epoch -> {ratios[-1]:.1f}x")
        print(f"  softreg is {np.median(ratios):.1f}x faster (median of {rounds} rounds; "
              f"min {min(ratios):.1f}x, max {max(ratios):.1f}x)")
        record(f"torch backend vs a d2l-style pipeline ({'PIL' if via_pil else 'no PIL'}), "
               "per epoch", float(np.median(ratios)), target=40 if via_pil else None)


if __name__ == "__main__":
    main()
