"""``softreg explain RUN``: per-class P/R/F1, mistakes, calibration and weight templates."""

from __future__ import annotations

import argparse

from softreg.cli.train import add_data_args, check_data_flags, data_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain", help="explain a run: templates, mistakes, P/R/F1, calibration",
        description="Explain a trained model on the test set, with NumPy from its checkpoint "
        "(any framework's): per-class precision/recall/F1, the most-confused pairs and "
        "highest-loss images, calibration (ECE with 15 bins, NLL; with a validation split, a "
        "fitted temperature saved for 'softreg predict --calibrated'), and the weight "
        "templates. Writes explain.md, the figures and calibration.json.")
    p.add_argument("target", metavar="RUN",
                   help="a run folder (its final model) or a .safetensors checkpoint")
    p.add_argument("--out", help="folder for the files [the run folder (a run's checkpoint "
                   "other than its final model needs --out); <name>-explain next to a "
                   "checkpoint file outside a run folder]")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    add_data_args(p, note="; default: the data the model was trained on")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.explain.report import format_text
    from softreg.jobs.explain import explain_run

    given = data_settings(args)
    res = explain_run(args.target, args.out, data_dir=args.data_dir, offline=args.offline,
                      figures=not args.no_figures, data=given,
                      check_data=lambda spec: check_data_flags(args, spec,
                                                               recorded="data" not in given))
    from softreg.runfiles.checkpoint_meta import origin

    print(f"model: {res.model_path} ({origin(res.meta, device=False)}); "
          f"{res.explanation.calibration.test_size} test examples, computed with NumPy")
    print()
    print(format_text(res.explanation))
    print()
    print("files:")
    for key, path in res.files.items():
        print(f"  {key:<12} {path}")
    return 0
