"""What every export format shares: the model's class names and input shape."""

from __future__ import annotations

from softreg.runfiles.checkpoint import Checkpoint


def class_names(ck: Checkpoint) -> list[str]:
    """The class names of the checkpoint's data (Fashion-MNIST's for an older checkpoint)."""
    return list(ck.shape.class_names)


def input_shape(ck: Checkpoint) -> tuple[int, ...]:
    """One example as the exported model takes it: the image shape (H, W) or (H, W, C),
    channels last, as the features are flattened; (D,) for a table."""
    shape = ck.shape
    return tuple(shape.image_shape) if shape.image_shape is not None else (shape.features,)


def input_words(ck: Checkpoint) -> str:
    """What the input is, for the exported files' descriptions."""
    if ck.shape.image_shape is None:
        return (f"float32 features as in the data (N, {ck.shape.features}); the training "
                "standardisation is folded into the weights")
    return "float32 pixels in [0, 1] (uint8 pixels divided by 255)"
