"""What every export format shares: the model's class names."""

from __future__ import annotations

from softreg.checkpoint import Checkpoint


def class_names(ck: Checkpoint) -> list[str]:
    """The class names a checkpoint records, else Fashion-MNIST's."""
    from softreg.data import CLASS_NAMES

    names = ck.meta.get("class_names")
    if isinstance(names, list) and len(names) == ck.W.shape[0]:
        return [str(n) for n in names]
    return list(CLASS_NAMES)
