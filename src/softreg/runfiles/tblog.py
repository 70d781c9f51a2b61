"""TensorBoard logging: an after-epoch callback writing event files, without TensorFlow.

Each epoch adds scalars (``loss/train``, ``loss/val``, ``loss/test``, the same under
``accuracy/``, and ``lr``) and, for a model on images, the weight templates (row k of W as a
grayscale image of the data's height and width, colour weights averaged over the channels,
mid-grey for 0, ``template/<k>_<class>``) at step = the epoch number (from 1).

Only the ``tensorboard`` package's protocol buffers and record framing are used:
``tensorboard.summary.Writer`` writes scalars only, and its ``EventFileWriter`` imports
TensorFlow whenever TensorFlow is installed. An event file is an append-only log that
TensorBoard reads while it grows, so it is not written through :mod:`softreg.safety.fileio`'s
temporary-then-rename writers; each epoch's events are flushed and fsync'ed together, and
TensorBoard's reader skips a record cut short by a crash.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError
from softreg.core.optional import require
from softreg.core.shape import ModelShape
from softreg.epochs.history import EpochRecord, History
from softreg.safety import writegate
from softreg.safety.textsafe import printable

# (tag, EpochRecord field) of the per-epoch scalars; a NaN (no validation split) is skipped.
SCALARS: tuple[tuple[str, str], ...] = (
    ("loss/train", "train_loss"), ("loss/val", "val_loss"), ("loss/test", "test_loss"),
    ("accuracy/train", "train_acc"), ("accuracy/val", "val_acc"),
    ("accuracy/test", "test_acc"), ("lr", "lr"),
)
IMAGE_SIDE = 28

Weights = Callable[[], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]


class TensorBoardLog:
    """An epoch callback for :func:`softreg.epochs.loop.run_epochs` that writes TensorBoard events.

    Args:
        logdir: folder of the event file (created if needed); give each run its own.
        weights: returns the current (W (C, D), b (C,)) for raw inputs, e.g.
            ``trainer.snapshot``.
        class_names: names used in the template tags.

    Raises:
        FrameworkUnavailableError: the ``tensorboard`` package is not installed.
        ConfigError: ``logdir`` is a file or cannot be created.
    """

    def __init__(self, logdir: str | os.PathLike[str], weights: Weights | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        require("tensorboard")
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        if class_names is None:
            from softreg.data import CLASS_NAMES

            class_names = CLASS_NAMES
        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._weights: Weights | None = weights
        self._tags = [f"template/{k}_{_tag_safe(name)}" for k, name in enumerate(class_names)]
        self._image_shape: tuple[int, ...] | None = (IMAGE_SIDE, IMAGE_SIDE)
        self.path, self._file = _new_event_file(Path(logdir))
        self._records = RecordWriter(self._file)
        self._write(self._event(wall_time=time.time(), file_version="brain.Event:2"))
        self._sync()

    def watch(self, weights: Weights, shape: ModelShape | None = None) -> None:
        """Log the templates of ``weights()`` (W, b) from now on (when the log was opened
        before the model existed). ``shape``: the data's model shape (its class names, and
        its image shape: a table's weights are not drawn)."""
        self._weights = weights
        if shape is not None:
            self._tags = [f"template/{k}_{_tag_safe(name)}"
                          for k, name in enumerate(shape.class_names)]
            self._image_shape = shape.image_shape

    def __call__(self, rec: EpochRecord, hist: History) -> bool:
        """Write the epoch's scalars and templates; never asks to stop."""
        now = time.time()
        values = [self._summary.Value(tag=tag, simple_value=float(getattr(rec, name)))
                  for tag, name in SCALARS if not math.isnan(getattr(rec, name))]
        if self._weights is None:
            raise RuntimeError("TensorBoardLog.watch(weights) must be called before training")
        W = self._weights()[0]  # (C, D)
        side = self._image_shape
        for tag, row in zip(self._tags, W, strict=False):
            if side is None:
                break  # a table: no pictures of its weights
            image = self._summary.Image(height=side[0], width=side[1], colorspace=1,
                                        encoded_image_string=template_png(row, side))
            values.append(self._summary.Value(tag=tag, image=image))
        self._write(self._event(wall_time=now, step=rec.epoch,
                                summary=self._summary(value=values)))
        self._sync()
        return False

    def close(self) -> None:
        """Flush and close the event file (safe to call twice)."""
        if not self._file.closed:
            self._sync()
            self._file.close()

    def _write(self, event: Any) -> None:
        self._records.write(event.SerializeToString())

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())


def template_png(row: npt.NDArray[np.floating[Any]],
                 image_shape: tuple[int, ...] = (IMAGE_SIDE, IMAGE_SIDE)) -> bytes:
    """A weight row (D,) as an 8-bit grayscale PNG of the image shape (colour weights averaged
    over the channels): 0 is mid-grey, +-max|w| white/black."""
    w = np.asarray(row, dtype=np.float64).reshape(image_shape)  # (H, W[, 3])
    if w.ndim == 3:
        w = w.mean(axis=2)  # (H, W)
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    scaled = 127.5 + 127.5 * (w / peak if peak > 0 and math.isfinite(peak) else 0.0 * w)
    return png_gray(np.clip(np.rint(np.nan_to_num(scaled, nan=127.5)), 0, 255).astype(np.uint8))


def png_gray(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Encode a (height, width) uint8 array as an 8-bit grayscale PNG (no filtering)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit, grayscale
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _tag_safe(name: str) -> str:
    """A class name as one tag component ("T-shirt/top" -> "T-shirt_top")."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def check_logdir(logdir: Path, run_dir: Path | None = None) -> None:
    """Refuse a ``--tensorboard`` folder softreg may not add event files to.

    It must be absent, or a real folder (not a link) holding only event files and folders
    (other runs' logs), and neither the run's ``--out`` folder nor inside it.

    Raises:
        ConfigError: naming the folder and what is wrong.
    """
    writegate.check_folder(logdir, "--tensorboard")
    if run_dir is not None:
        here, run = logdir.resolve(), run_dir.resolve()
        if here == run or run in here.parents:
            raise ConfigError(f"--tensorboard {str(logdir)!r} is the run folder --out or inside "
                              "it, which holds only the run's own files: give another folder, "
                              "e.g. --tensorboard tb")
    if logdir.is_dir():
        foreign = sorted(e.name for e in logdir.iterdir()
                         if ".tfevents." not in e.name and not e.is_dir())
        if foreign:
            raise ConfigError(f"--tensorboard {str(logdir)!r} holds files that are not event "
                              f"files ({printable(', '.join(foreign[:3]))}); give a new folder "
                              "or one of event files")


def _new_event_file(logdir: Path) -> tuple[Path, BinaryIO]:
    """Create ``logdir`` if needed and a new event file in it, opened for writing."""
    check_logdir(logdir)
    # TensorBoard reads the files whose names contain "tfevents", in name order; the rest
    # keeps names unique.
    stem = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            path = logdir / f"{stem}.{n:03d}.softreg"  # sorts in the order of creation
            try:
                return path, open(path, "xb")  # closed by TensorBoardLog.close()
            except FileExistsError:
                continue
        raise FileExistsError(f"1000 event files named {stem}.* already exist")
    except OSError as exc:
        raise ConfigError(f"--tensorboard {str(logdir)!r} cannot be written "
                          f"({exc.strerror or exc}); give a folder you can write to") from exc
