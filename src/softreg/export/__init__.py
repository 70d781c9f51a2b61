"""Exporting a run's final model to ONNX, PyTorch (safetensors) or Keras.

Every format takes float32 pixels in ``[0, 1]`` (an 8-bit image divided by 255) and computes
the run's logits; the checkpoint's weights already are for such pixels, even for a run trained
with standardisation. One module per format (``to_onnx``, ``to_torch``, ``to_keras``) holds a
``write(ck, source, tmp)`` function and a ``snippet(ck)`` showing how to load the file; each imports
its library only when used.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softreg.core.errors import CheckpointError, ConfigError
from softreg.export import common
from softreg.runfiles import checkpoint
from softreg.safety import runfolder, writegate

# format -> (module, default file name in the run folder)
FORMATS: dict[str, tuple[str, str]] = {
    "onnx": ("to_onnx", "model.onnx"),
    "torch": ("to_torch", "model_torch.safetensors"),
    "keras": ("to_keras", "model.keras"),
}
# The name a format's library insists on (Keras saves a model only as NAME.keras); the other
# formats take any name. A name without it is refused, never changed behind the user's back.
SUFFIXES: dict[str, str] = {"keras": ".keras"}


@dataclass(frozen=True)
class Exported:
    """An export: the file written, the checkpoint it came from, and how to load it."""

    path: Path
    source: Path
    epoch: int | None
    snippet: str


def default_path(run: Path, fmt: str) -> Path:
    """Where ``fmt`` goes by default: in the run folder (beside a checkpoint file)."""
    folder = run if run.is_dir() else run.parent
    return folder / FORMATS[fmt][1]


def export_model(run: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str] | None = None,
                 *, overwrite: bool = False) -> Exported:
    """Write the final model of ``run`` in format ``fmt``.

    Args:
        run: a run folder (its final model, see :func:`softreg.runfiles.checkpoint.load_model`) or a
            ``.safetensors`` checkpoint.
        fmt: ``onnx``, ``torch`` or ``keras``.
        out: the file to write; a folder (an existing one, or any name ending in a path
            separator, made when missing) gets the format's default name. Default: in the run.
        overwrite: replace an existing file instead of refusing.

    Returns:
        What was written.

    Raises:
        ConfigError: unknown format, an ``out`` that is the checkpoint being exported (through
            links or ``..`` too) or any other softreg checkpoint (``overwrite`` or not: the
            checkpoint may be the only copy of the model), an existing file without
            ``overwrite``, an unwritable path, an ``out`` ending in a separator that is not a
            folder, a keras ``out`` whose name does not end in ``.keras``.
        CheckpointError: ``run`` is not a run folder or a softreg checkpoint.
        FolderError: ``out`` is, or is in, a run or sweep folder of softreg's other than the
            one holding the model (:func:`softreg.safety.runfolder.refuse_other_model_folder`).
        FrameworkUnavailableError: the format's library is not installed.
    """
    from softreg.safety.fileio import write_new

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    src = Path(run)
    if src.is_dir() and not (src / checkpoint.LAST).is_file():
        raise CheckpointError(f"{str(src)!r} is not a softreg run folder (it has no "
                              f"{checkpoint.LAST}); pass a folder written by 'softreg train' "
                              "or a .safetensors checkpoint")
    path, ck = checkpoint.load_model(src)  # a small file: read before anything is written
    if out is not None:  # not among another run's or a sweep's files, where it passes for theirs
        runfolder.refuse_other_model_folder(
            out, path, f"exporting {str(src)!r} there would put its model among that "
            "folder's files, where it passes for the folder's own")
    dest = Path(out) if out is not None else default_path(src, fmt)
    if out is not None and _names_folder(out):
        # Path() drops the trailing separator: a folder that is not there yet is made by the
        # write below, never written as a file of the folder's name
        writegate.check_folder(dest)
        writegate.check_outside(dest)
        dest = dest / FORMATS[fmt][1]
    elif writegate.describe(dest) == "a folder":  # a real folder, not a link to one
        dest = dest / FORMATS[fmt][1]
    _refuse_checkpoint(dest, path)
    _check_suffix(dest, fmt)
    module = importlib.import_module(f"softreg.export.{FORMATS[fmt][0]}")
    source = common.source_name(path)  # the exported file names no absolute path
    # write_new refuses an existing file before calling the writer (which imports the library).
    with runfolder.adding_to(dest.parent):  # a run folder: not while its training writes
        write_new(dest, lambda tmp: module.write(ck, source, tmp), overwrite=overwrite)
    epoch = ck.meta.get("epoch")
    return Exported(dest, path, epoch if isinstance(epoch, int) else None,
                    _resize_note(ck, path) + module.snippet(ck).format(path=dest))


def _resize_note(ck: Any, where: Path) -> str:
    """A comment line before the loading snippet of a run that read its pictures resized
    (``--image-size``, maybe ``--grayscale``): the exported model takes them at that size only
    (``softreg predict`` resizes a picture itself; the exported file cannot). Empty otherwise."""
    from softreg.runfiles.checkpoint_meta import data_config

    shape = ck.shape.image_shape
    if shape is None:
        return ""
    try:
        config = data_config(ck.meta, str(where), {})
    except ConfigError:  # an estimator saved without its data: no data settings recorded
        return ""
    if not config.image_size:
        return ""
    gray = ", in grayscale (--grayscale)" if config.grayscale else ""
    return (f"# the run read its pictures resized to {shape[0]}x{shape[1]} (--image-size)"
            f"{gray}: resize yours so first, as softreg predict does\n")


def _refuse_checkpoint(dest: Path, source: Path) -> None:
    """Refuse to write over ``source`` (the checkpoint being exported, however ``dest`` names
    it) or over any softreg checkpoint: an export holds the weights alone, not the class names
    and metadata that make the checkpoint usable, so replacing one would lose the model.

    Raises:
        ConfigError: naming ``dest``; nothing is written.
    """
    try:
        same = os.path.realpath(dest) == os.path.realpath(source) or (
            dest.exists() and os.path.samefile(dest, source))
    except OSError:
        same = False
    if same:
        raise ConfigError(f"--out {str(dest)!r} is the checkpoint being exported; writing the "
                          "export there would replace the model it is made from, --overwrite "
                          "or not: choose another --out")
    if _is_checkpoint(dest):
        raise ConfigError(f"--out {str(dest)!r} is a softreg checkpoint; an export holds only "
                          "the weights, so replacing it would lose that model, --overwrite or "
                          "not: choose another --out")


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a file whose safetensors header says it is a softreg checkpoint."""
    from softreg.safety import tensorfile

    try:
        if not path.is_file():
            return False
        header = tensorfile.read_header(path, max_data=checkpoint.MAX_DATA)
    except (OSError, CheckpointError):
        return False
    return header.metadata.get("format") == checkpoint.FORMAT


def _names_folder(out: str | os.PathLike[str]) -> bool:
    """Whether ``out`` ends in a path separator (``exports/``): a folder, existing or not."""
    seps = tuple(sep for sep in (os.sep, os.altsep) if sep)
    return os.fspath(out).endswith(seps)


def _check_suffix(dest: Path, fmt: str) -> None:
    """Refuse a file name that ``fmt``'s library would not save under (see :data:`SUFFIXES`).

    Raises:
        ConfigError: ``dest`` does not end in the format's suffix; the message offers the
            name with it.
    """
    suffix = SUFFIXES.get(fmt)
    if suffix is None or dest.suffix == suffix:
        return
    raise ConfigError(f"--out {str(dest)!r} does not end in {suffix}, the only name {fmt} "
                      f"saves a model under; give e.g. --out "
                      f"{str(dest.with_name(dest.name + suffix))!r}")
