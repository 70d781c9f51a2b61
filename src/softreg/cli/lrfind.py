"""``softreg lr-find``: loss against learning rate, one pack of rates, and a suggestion."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from softreg.cli.settings import add_setting
from softreg.cli.train import add_data_args, data_settings
from softreg.core.config import TrainConfig
from softreg.safety import fileio


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "lr-find", help="learning-rate range test: loss against lr, with a suggested lr",
        description="Train log-spaced learning rates together (one pack, the same batches) "
        "for a short while, plot the loss of each against its rate, and suggest the rate "
        "with the lowest loss (validation loss with --val-split, else the trained model's loss "
        "on the training split).")
    p.add_argument("--min-lr", type=float, default=1e-3, help="[%(default)g]")
    p.add_argument("--max-lr", type=float, default=10.0, help="[%(default)g]")
    p.add_argument("--num", type=int, default=16, help="learning rates tried [%(default)s]")
    p.add_argument("--epochs", type=int, default=1, help="epochs each rate trains [%(default)s]")
    for name in ("framework", "batch_size", "weight_decay"):
        add_setting(p, name)
    add_setting(p, "val_split", default=0.1)
    p.add_argument("--standardize", action="store_true", help="per-pixel standardisation")
    for name in ("seed", "device"):
        add_setting(p, name)
    p.add_argument("--out", default="lr-find.png",
                   help="the figure; an existing file is refused [%(default)s]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--no-figures", action="store_true", help="print only")
    add_data_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.jobs.lrfind import check_range, format_lr_find, lr_find

    config = TrainConfig(framework=args.framework, epochs=args.epochs,
                         batch_size=args.batch_size, weight_decay=args.weight_decay,
                         val_split=args.val_split, standardize=args.standardize,
                         seed=args.seed, device=args.device, **data_settings(args))
    check_range(args.min_lr, args.max_lr, args.num)  # refusals before any work
    if args.epochs < 1:  # zero epochs would leave every rate "diverged"
        from softreg.core.errors import ConfigError

        raise ConfigError(f"lr-find --epochs must be >= 1, got {args.epochs}; each rate trains "
                          "at least one epoch, e.g. --epochs 1")
    out = Path(args.out)
    if args.out.endswith(tuple(s for s in (os.sep, os.altsep) if s)):  # a folder (which
        out = out / "lr-find.png"  # Path() drops the separator of): the default name in it
    if not args.no_figures:
        fileio.refuse_existing(out, overwrite=args.overwrite, suffix=".png")
    result = lr_find(config, args.min_lr, args.max_lr, args.num, data_dir=args.data_dir,
                     offline=args.offline)
    print(format_lr_find(result))
    if not args.no_figures:
        from softreg.plots.packs import plot_lr_find

        path = fileio.write_new(out, lambda tmp: plot_lr_find(
            result.lrs, result.losses, result.loss_name, result.suggested, tmp),
            overwrite=args.overwrite, suffix=".png")
        print(f"figure: {path}")
    return 0 if result.suggested is not None else 3
