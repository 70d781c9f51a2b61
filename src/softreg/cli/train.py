"""``softreg train``: train a softmax regression (defaults: the chapter's configuration)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from softreg.config import DEVICES, LR_SCHEDULES, MONITORS, TrainConfig


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder with the four Fashion-MNIST IDX files (.gz or not)")
    p.add_argument("--offline", action="store_true", help="never download; local files only")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = TrainConfig()
    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train softmax regression on Fashion-MNIST. Defaults are the "
                       "d2l chapter's: torch, batch 256, lr 0.1, 10 epochs, N(0, 0.01) weights.")
    p.add_argument("--framework", default=d.framework,
                   help="torch | tensorflow (tf) | mxnet (gluon) | numpy  [%(default)s]")
    p.add_argument("--epochs", type=int, default=None, help=f"[{d.epochs}]")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="[%(default)s]")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate [%(default)s]")
    p.add_argument("--seed", type=int, default=d.seed, help="[%(default)s]")
    p.add_argument("--device", default=d.device, help=f"{' | '.join(DEVICES)} [%(default)s]")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="[%(default)s]")
    p.add_argument("--lr-schedule", default=d.lr_schedule, help=f"{' | '.join(LR_SCHEDULES)}")
    p.add_argument("--val-split", type=float, default=d.val_split,
                   help="fraction of the training set held out for validation [%(default)s]")
    p.add_argument("--val-seed", type=int, default=d.val_seed,
                   help="seed of the validation images, apart from --seed [%(default)s]")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="early stopping after N epochs without progress (needs --val-split)")
    p.add_argument("--monitor", default=d.monitor, help=f"{' | '.join(MONITORS)}")
    p.add_argument("--max-loss", type=float, default=d.max_loss,
                   help="a mean train loss above this stops the run as diverged [%(default).4g]")
    p.add_argument("--out", help="run folder [runs/<framework>-<time>]")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR (its own settings; --epochs may extend it)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no per-epoch table")
    p.add_argument("--verbose", action="store_true", help="show framework log messages")
    add_data_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.run import default_out_dir, print_summary, train_run

    if args.verbose:
        os.environ["SOFTREG_VERBOSE"] = "1"
    if args.resume:
        result = train_run(None, Path(args.resume), resume=True, resume_epochs=args.epochs,
                           data_dir=args.data_dir, offline=args.offline,
                           figures=not args.no_figures, quiet=args.quiet)
    else:
        config = TrainConfig(
            framework=args.framework, epochs=10 if args.epochs is None else args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
            weight_decay=args.weight_decay, lr_schedule=args.lr_schedule,
            val_split=args.val_split, val_seed=args.val_seed, patience=args.patience,
            monitor=args.monitor, max_loss=args.max_loss,
        )
        out = Path(args.out) if args.out else default_out_dir(config)
        result = train_run(config, out, data_dir=args.data_dir, offline=args.offline,
                           overwrite=args.overwrite, figures=not args.no_figures,
                           quiet=args.quiet)
    print_summary(result)
    status = result.history.status
    if status == "diverged":
        return 3
    if status == "interrupted":
        print(f"resumable checkpoint saved to {result.files['checkpoint']}; continue with: "
              f"softreg train --resume {result.out_dir}")
        return 130
    return 0

