"""GPU timings of packed training (run by ``benchmarks/gpu_check.sh`` on a CUDA machine).

(i) the chapter's configuration, 10 epochs on the GPU, data resident, one host sync per
    epoch: the training time after a warm-up run (target <= 0.1 s);
(ii) 1000 configurations (10 learning rates x 10 weight decays x 10 seeds, batch 256,
    10 epochs) as packs of ``fit_many`` (target <= 2 s on an H100/H200);
(iii) the per-model cost of (ii) against one model trained alone.

Run: ``python benchmarks/gpu_timings.py`` (exits 1 without a CUDA GPU)
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_timings: no CUDA GPU visible to PyTorch (torch.cuda.is_available() is "
              "False); run this on a machine with one", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 products, as on the CPU
    from softreg.core.config import TrainConfig
    from softreg.fitting.pack_plan import fit_many
    from softreg.fitting.splits import prepare_splits
    from softreg.fitting.trainer import fit

    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    chapter = TrainConfig(device="cuda")
    splits = prepare_splits(chapter, offline=True)
    fit(chapter, splits, eval_splits=())  # warm-up: CUDA context, kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    one = fit(chapter, splits, eval_splits=())
    torch.cuda.synchronize()
    t_one = time.perf_counter() - t0
    acc = one.trainer.evaluate("test").accuracy
    print(f"(i) chapter, 10 epochs on the GPU: {t_one:.3f} s of training (target <= 0.1 s); "
          f"test acc {acc:.4f}")

    lrs = np.geomspace(0.01, 1.0, 10)
    wds = [0.0, *np.geomspace(1e-5, 1e-2, 9)]
    base = replace(chapter, val_split=0.1, standardize=True)
    configs = [replace(base, lr=float(lr), weight_decay=float(wd), seed=s)
               for lr in lrs for wd in wds for s in range(10)]
    split_val = prepare_splits(base, offline=True)
    fit_many(configs[:20], split_val, eval_splits=("val",))  # warm-up of the packed kernels
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    results = fit_many(configs, split_val, eval_splits=("val",))
    torch.cuda.synchronize()
    t_pack = time.perf_counter() - t0
    ok = [r for r in results if r.history.status == "completed"]
    best = max(ok, key=lambda r: r.history.last.val_acc)
    print(f"(ii) {len(configs)} configurations x 10 epochs, packed: {t_pack:.2f} s "
          f"(target <= 2 s); {len(ok)} completed; best val acc {best.history.last.val_acc:.4f}")
    per_model = t_pack / len(configs)
    print(f"(iii) per model: {per_model * 1000:.2f} ms, {per_model / t_one:.3f} of one model "
          f"alone ({t_one:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
