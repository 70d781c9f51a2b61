"""``softreg export RUN --format onnx|torch|keras``: the final model for other tools."""

from __future__ import annotations

import argparse

# Kept here (not imported from softreg.export) so that ``--help`` imports nothing more.
_FORMATS = ("onnx", "torch", "keras")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export", help="export a run's final model to ONNX, PyTorch or Keras",
        description="Export the final model of a run (the best epoch when early stopping "
        "restored it). Every format takes the data's inputs: float32 pixels in [0, 1] (8-bit "
        "images / 255), or a table's raw values; the weights already include any "
        "standardisation. onnx: input 'pixels' (N, channels, H, W) or, for a table, 'features' "
        "(N, D); outputs 'logits' and 'probabilities' (N, C). torch: a safetensors state_dict "
        "of nn.Sequential(nn.Flatten(), nn.Linear(D, C)). keras: a .keras Sequential (Input of "
        "the data's shape, Flatten, Dense(C)) giving logits. Fashion-MNIST: (N, 1, 28, 28), "
        "D = 784, C = 10.")
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by 'softreg train', "
                   "or a .safetensors checkpoint")
    p.add_argument("--format", required=True, choices=_FORMATS, dest="format",
                   help="onnx (needs: pip install 'softreg[onnx]') | torch | keras (needs: "
                   "pip install 'softreg[tensorflow]')")
    p.add_argument("--out", help="file to write (a folder gets the default name; a name "
                   "ending in / is a folder, made if missing; keras: a file name ending in "
                   ".keras) [in the run folder: model.onnx, model_torch.safetensors or "
                   "model.keras]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.export import export_model

    done = export_model(args.run_dir, args.format, args.out, overwrite=args.overwrite)
    epoch = f", epoch {done.epoch}" if done.epoch is not None else ""
    print(f"wrote {done.path} ({args.format}; from {done.source}{epoch})")
    print("load it with:")
    for line in done.snippet.splitlines():
        print(f"  {line}")
    return 0
