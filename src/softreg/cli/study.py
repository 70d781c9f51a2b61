"""``softreg study overfit``: long runs without and with regularisation, plotted and explained."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from softreg.cli.settings import add_setting
from softreg.cli.train import add_data_args, data_settings
from softreg.core.config import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("study", help="guided experiments (overfit)",
                       description="Guided experiments that answer the chapter's questions.")
    studies = p.add_subparsers(dest="study", metavar="STUDY", required=True)
    o = studies.add_parser(
        "overfit", help="why test accuracy stops improving; weight decay, lr decay, early stop",
        description="Train for many epochs four times: as is, with weight decay, with cosine "
        "learning-rate decay and with early stopping; plot train / validation / test accuracy "
        "and the generalisation gap, and write a summary from the numbers.")
    add_setting(o, "epochs", default=100)
    for name in ("framework", "lr", "batch_size"):
        add_setting(o, name)
    o.add_argument("--weight-decay", type=float, default=1e-3,
                   help="the weight-decay variant's L2 penalty [%(default)s]")
    o.add_argument("--patience", type=int, default=10,
                   help="the early-stopping variant's patience in epochs [%(default)s]")
    add_setting(o, "monitor")
    add_setting(o, "val_split", default=0.1)
    add_setting(o, "val_seed")
    o.add_argument("--train-size", type=int,
                   help="train on a stratified subset of this many images (e.g. 1000, to "
                   "see overfitting clearly) [all]")
    for name in ("seed", "device"):
        add_setting(o, name)
    o.add_argument("--out", default="studies/overfit", help="study folder [%(default)s]")
    o.add_argument("--no-figures", action="store_true", help="skip overfit.png")
    add_data_args(o)
    o.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.jobs.study import run_study

    base = TrainConfig(framework=args.framework, epochs=args.epochs, lr=args.lr,
                       batch_size=args.batch_size, seed=args.seed, device=args.device,
                       val_split=args.val_split, val_seed=args.val_seed,
                       monitor=args.monitor, **data_settings(args))
    if args.weight_decay <= 0 or args.patience < 1:
        from softreg.core.errors import ConfigError

        raise ConfigError(f"the study compares with regularisation: --weight-decay must be > 0 "
                          f"and --patience >= 1, got {args.weight_decay} and {args.patience}")
    out = Path(args.out)
    _, text = run_study(base, out, weight_decay=args.weight_decay, patience=args.patience,
                        train_size=args.train_size, data_dir=args.data_dir,
                        offline=args.offline, figures=not args.no_figures, stream=sys.stdout)
    print()
    print(text)
    print(f"study folder: {out} (summary.md{', overfit.png' if not args.no_figures else ''})")
    return 0
