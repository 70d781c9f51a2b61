"""What every export format shares: the model's class names and input shape, and how the
exported files name the checkpoint and the data (never by where they lie on this machine)."""

from __future__ import annotations

import json
import os
from pathlib import Path, PureWindowsPath

from softreg.core.errors import ConfigError
from softreg.data.spec import parse
from softreg.runfiles.checkpoint import Checkpoint
from softreg.runfiles.checkpoint_meta import ESTIMATOR


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


# An exported file is made to be shared: what it says about its origin names no absolute path
# (which would tell where the user keeps their files, their user name included).


def source_name(path: Path) -> str:
    """The checkpoint as an exported file names it: its run folder's name and its own
    (``run/checkpoint.safetensors``) for a file of a run folder, its own name alone otherwise
    (the name of any other folder would tell where the user keeps their files)."""
    from softreg.safety.runfolder import model_folder

    found = model_folder(path.absolute().parent)
    folder = path.absolute().parent
    if found is not None and found[0] == Path(os.path.realpath(folder)) and folder.name:
        return f"{folder.name}/{path.name}"
    return path.name


def epoch_meta(ck: Checkpoint) -> dict[str, str]:
    """The exported files' ``epoch`` metadata: the checkpoint's epoch as JSON, nothing when it
    is unknown (an estimator's checkpoint, an older file)."""
    epoch = ck.meta.get("epoch")
    return {"epoch": json.dumps(epoch)} if isinstance(epoch, int) else {}


def data_name(ck: Checkpoint) -> str | None:
    """The training data as an exported file names it: a named dataset or scikit-learn's set as
    recorded (``fashion-mnist``, ``sklearn:digits``), a file or folder by its kind and name only
    (``csv:table.csv``, the checkpoint records its absolute path); None when no name is known
    (an estimator fitted on arrays, or a spec no command line could give)."""
    recorded = ck.meta.get("data")
    if recorded is None:  # older than the recorded spec: Fashion-MNIST, the only data then
        return None if ESTIMATOR in ck.meta else "fashion-mnist"
    try:
        spec = parse(recorded)
    except ConfigError:
        return None
    if spec.kind in ("named", "sklearn"):
        return spec.text
    name = PureWindowsPath(spec.target).name  # the last part after any "/" or "\"
    return f"{spec.kind}:{name}" if name else spec.kind
