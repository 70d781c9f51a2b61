"""``softreg train --seeds 0-15``: one model per seed in one pack, mean ± sd across seeds."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError
from softreg.epochs.history import Status
from softreg.safety import stopsignals


def run_seeds(args: argparse.Namespace, config: TrainConfig) -> int:
    """Train ``config`` with each seed of ``--seeds``; print and write the spread.

    Raises:
        ConfigError: a bad ``--seeds``, or ``--seed``/``--resume`` given with it (before any
            work).
    """
    from softreg.jobs.seeds import format_seeds, parse_seeds, train_seeds
    from softreg.safety.runfolder import default_stem, made_folder

    seeds = parse_seeds(args.seeds)  # distinct: a seed named twice is one model
    if len(seeds) < 2:  # one model has no spread to report
        raise ConfigError(f"--seeds {args.seeds} names one seed, but the spread across seeds "
                          f"needs two or more: write e.g. 0-15, or train one model with "
                          f"--seed {seeds[0]}")
    if args.seed is not None or args.resume:
        flag = "--seed" if args.seed is not None else "--resume"
        raise ConfigError(f"--seeds trains one model per seed; {flag} cannot go with it "
                          "(drop one of the two)")
    # removed again when the seeds are refused before anything is written there
    folder = (contextlib.nullcontext(Path(args.out)) if args.out
              else made_folder("runs", default_stem(f"seeds-{config.framework}")))
    with folder as out, stopsignals.sigterm_as_interrupt() as received:
        if not args.quiet:
            print(f"training seeds {args.seeds} ({len(seeds)} models, one pack) into {out}")
        rows, summary = train_seeds(config, seeds, out, data_dir=args.data_dir,
                                    offline=args.offline, figures=not args.no_figures,
                                    overwrite=args.overwrite)
    print(format_seeds(rows, summary))
    print(f"seeds folder: {out} (seeds.csv, summary.json"
          f"{', curves.png' if not args.no_figures else ''})")
    if any(r["status"] == Status.INTERRUPTED for r in rows):
        # the files are kept, as an interrupted run's; there is no resume for seeds
        print(f"interrupted: these models did not train their {config.epochs} epochs; train "
              f"them again with --overwrite --out {out}")
        return received.exit_code
    return 0 if any(r["status"] != Status.DIVERGED for r in rows) else 3
