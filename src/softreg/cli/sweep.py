"""``softreg sweep``: grid or random search, chosen by validation accuracy (never the test set)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from softreg.cli.settings import MAX_LOSS_NOTE, add_axis_flags, add_setting
from softreg.cli.train import add_data_args, data_settings
from softreg.core.config import SWEEP_AXES, TrainConfig

if TYPE_CHECKING:
    from softreg.fitting.pack_plan import Packing
    from softreg.sweeps.search import SearchSpace

# The defaults of the flags of one search or engine (None in the parsed arguments when not
# given, so that one given to another search or engine is refused, not silently ignored).
TRIALS = 20
SEARCH_SEED = 0
TASK_GPUS = 1.0
# flag -> (its attribute, the search or engine that uses it, the setting that is not it)
_OWNED = {
    "--trials": ("trials", "--search random", ("search", "random")),
    "--search-seed": ("search_seed", "--search random", ("search", "random")),
    "--address": ("address", "--engine ray", ("engine", "ray")),
    "--task-gpus": ("task_gpus", "--engine ray", ("engine", "ray")),
}
_WHY = {"--search random": "a grid trains every combination once",
        "--engine ray": "a Ray cluster; the local engine runs on this machine"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sweep", help="try many settings; choose on the validation split",
        description="Train every combination of the given values (grid) or a random draw of "
        "them, in parallel processes; choose the best on the validation split (--select) and "
        "report its test accuracy. The numbers of a configuration do not depend on how the "
        "sweep runs (engine, --jobs, packs, resuming) on one machine. A list is "
        "comma-separated (--seed also takes ranges lo-hi, as train --seeds: 0-3,8); with "
        "--search random a range lo:hi is drawn from (log-uniform "
        "for --lr and --weight-decay). Rerunning into the same --out "
        "resumes: finished configurations are skipped (refused if the data changed since).")
    add_axis_flags(p, SWEEP_AXES)
    p.add_argument("--search", default="grid", choices=("grid", "random"), help="[%(default)s]")
    # None when not given: a flag of another search or engine is refused (check_flags)
    p.add_argument("--trials", type=int, default=None,
                   help=f"configurations drawn by --search random [{TRIALS}]")
    p.add_argument("--search-seed", type=int, default=None,
                   help=f"seed of the draw of --search random [{SEARCH_SEED}]")
    add_setting(p, "val_split", default=0.1, note="; the sweep chooses by it")
    add_setting(p, "val_seed", note="; the same for every configuration")
    for name in ("patience", "monitor", "device"):
        add_setting(p, name)
    add_setting(p, "max_loss", note=MAX_LOSS_NOTE)
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel processes; with --engine ray and no --address, the CPUs of "
                   "the local Ray cluster [%(default)s]")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="where configurations train: local processes, or tasks on a Ray "
                   "cluster (pip install 'softreg[ray]') [%(default)s]")
    p.add_argument("--address", default=None,
                   help="the Ray cluster: auto (the one `ray start` runs here), HOST:PORT or "
                   "ray://HOST:10001 [RAY_ADDRESS, else a local cluster for this sweep]")
    p.add_argument("--task-gpus", type=float, default=None,
                   help="with --engine ray and --device cuda, the GPU share of each task "
                   f"(0.25: four tasks per GPU) [{TASK_GPUS}]")
    p.add_argument("--pack", type=int, metavar="N",
                   help="the most models trained together in one pass [as many as "
                   "--pack-memory holds]")
    p.add_argument("--pack-memory", metavar="SIZE",
                   help="the most memory one pack may hold, e.g. 2G or 512M [a quarter of "
                   "the machine's memory, at most 8G]")
    p.add_argument("--no-pack", action="store_true",
                   help="train one configuration at a time (packs share batches: same "
                   "framework, batch size, epochs and data settings)")
    p.add_argument("--select", default="val_loss", choices=("val_loss", "val_acc"),
                   help="what chooses the best configuration: the validation loss of its "
                   "model (with --patience, the best epoch's) or its validation accuracy; "
                   "averaged over seeds when --seed lists several [%(default)s]")
    p.add_argument("--refit", action="store_true",
                   help="retrain the chosen settings on train + validation and report that too")
    p.add_argument("--out", help="sweep folder [sweeps/<time>]; an existing one is resumed")
    p.add_argument("--no-figures", action="store_true", help="skip heatmap.png and curves.png")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_data_args(p)
    p.set_defaults(run=run)


def build_space(args: argparse.Namespace) -> SearchSpace:
    """The :class:`~softreg.sweeps.search.SearchSpace` described by the parsed arguments."""
    from softreg.sweeps.search import SearchSpace, parse_axis

    base = TrainConfig(val_split=args.val_split, val_seed=args.val_seed,
                       patience=args.patience, monitor=args.monitor,
                       device=args.device, max_loss=args.max_loss, **data_settings(args))
    axes = {}
    for name in SWEEP_AXES:
        text = getattr(args, f"axis_{name}")
        if text is not None:
            axes[name] = parse_axis(name, text)
    return SearchSpace(base=base, axes=axes, search=args.search,
                       trials=TRIALS if args.trials is None else args.trials,
                       search_seed=SEARCH_SEED if args.search_seed is None else args.search_seed)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags given for a search or an engine that this sweep does not use (``--trials``
    with a grid, ``--task-gpus`` with the local engine, ...): each would be ignored.

    Raises:
        ConfigError: one line naming each such flag, what uses it, and what to do.
    """
    from softreg.core.errors import ConfigError
    from softreg.safety.textsafe import printable

    unused: dict[str, list[str]] = {}
    for flag, (name, owner, (setting, wanted)) in _OWNED.items():
        value = getattr(args, name)
        if value is not None and getattr(args, setting) != wanted:
            shown = f"{value:g}" if isinstance(value, float) else printable(str(value))
            unused.setdefault(owner, []).append(f"{flag} {shown}")
    if unused:
        raise ConfigError("; ".join(
            f"{' and '.join(flags)} {'is' if len(flags) == 1 else 'are'} for {owner} "
            f"({_WHY[owner]}): drop {'it' if len(flags) == 1 else 'them'} or add {owner}"
            for owner, flags in unused.items()))


def describe_trials(space: SearchSpace, drawn: int) -> list[str]:
    """A line when a random search trains fewer configurations than its ``trials``: its lists
    hold fewer, or its draws repeated one (a repeat is trained once)."""
    from softreg.sweeps.search import Range

    if space.search != "random" or drawn >= space.trials:
        return []
    if not any(isinstance(v, Range) for v in space.axes.values()):
        return [f"--trials {space.trials}: the lists hold only {drawn} distinct "
                f"configurations; training all {drawn}"]
    return [f"--trials {space.trials}: the draws gave {drawn} distinct configurations (a "
            "configuration drawn again is trained once)"]


def build_packing(args: argparse.Namespace) -> Packing:
    """The :class:`~softreg.fitting.pack_plan.Packing` of the packing flags.

    Raises:
        ConfigError: ``--pack`` below 1 or an unreadable ``--pack-memory``.
    """
    from softreg.fitting.pack_plan import Packing, check_pack_limits, parse_memory

    memory = parse_memory(args.pack_memory) if args.pack_memory is not None else None
    check_pack_limits(args.pack, memory)
    return Packing(enabled=not args.no_pack, max_models=args.pack, memory=memory)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import datetime

    from softreg.fitting.pack_plan import packing as sweep_packing
    from softreg.safety.runfolder import made_folder
    from softreg.safety.textsafe import printable
    from softreg.sweeps.search import describe_draws
    from softreg.sweeps.sweep import check_data, check_sweep, format_best, run_sweep

    check_flags(args)  # a refusal is one line, before any work
    packing = build_packing(args)
    space = build_space(args)
    out = Path(args.out) if args.out else Path("sweeps") / "new"
    gpus = TASK_GPUS if args.task_gpus is None else args.task_gpus
    with sweep_packing(packing):
        # a refusal is its one line, with nothing before it and no folder made: the settings,
        # then the data (read for its model shape: packs too small for one model of it are
        # refused too)
        configs = check_sweep(space, out, args.jobs, engine=args.engine, address=args.address,
                              gpus_per_task=gpus)
        shapes = check_data(configs, args.data_dir, args.offline, engine=args.engine,
                            jobs=args.jobs)
        # a folder of its own: two sweeps started in one second get two; removed again when
        # the sweep is refused before it writes there (its Ray cluster does not answer)
        folder = (contextlib.nullcontext(out) if args.out else
                  made_folder("sweeps", datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
        with folder as out:
            if not args.quiet:
                print(f"sweep folder: {out}  (rerun with --out {out} to resume)")
                for line in describe_draws(space) if space.search == "random" else ():
                    print(line)
                for line in describe_trials(space, len(configs)):
                    print(line)
            result = run_sweep(space, out, jobs=args.jobs, data_dir=args.data_dir,
                               offline=args.offline, refit=args.refit,
                               figures=not args.no_figures, quiet=args.quiet,
                               engine=args.engine, address=args.address,
                               gpus_per_task=gpus, select=args.select, data_shapes=shapes)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(printable(f"{len(result.rows)} configurations "  # statuses come from result files
                    f"({', '.join(f'{n} {k}' for k, n in counts.items())}; {result.skipped} "
                    f"from an earlier run); {result.seconds:.1f} s"))
    if result.best is None and result.rows and all(r["status"] == "failed" for r in result.rows):
        # nothing diverged: every configuration failed (e.g. --device cuda without a GPU)
        from softreg.core.errors import ConfigError

        first = printable(result.rows[0].get("message", ""))
        raise ConfigError(f"no configuration could be trained: all {len(result.rows)} failed "
                          f"(the first: {first}); results.csv lists them: "
                          f"{result.files['results']}")
    print(format_best(result))
    print(f"results: {result.files['results']}")
    return 0 if result.best is not None else 3
