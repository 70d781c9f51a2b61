"""Exception types. Every error softreg raises on purpose derives from :class:`SoftregError`.

The CLI turns a ``SoftregError`` into a one-line message and exit code 2.
"""

from __future__ import annotations


class SoftregError(Exception):
    """Base class of softreg's own errors: the message says what went wrong and what to do."""


class ConfigError(SoftregError, ValueError):
    """A setting (learning rate, batch size, framework name, ...) is out of its allowed range."""


class WriteError(ConfigError, OSError):
    """A file cannot be written where asked: a file in the way of its folder, a folder that
    cannot be written in, or a read-only file. The message names the user's path (never a
    temporary one) and what to do; an ``OSError`` too, with the system's ``errno``, for code
    that handles a failed write as one."""


class FolderError(ConfigError):
    """A run or sweep folder cannot be written: not softreg's, in use, or of another kind."""


class ModelShapeError(SoftregError, ValueError):
    """A model's output does not fit the data, e.g. fewer outputs than there are classes."""


class DataError(SoftregError):
    """Dataset files are missing, corrupt or inconsistent."""


class IDXFormatError(DataError):
    """A file is not a well-formed IDX file (wrong magic, dimensions, length, gzip damage...)."""


class ChecksumError(DataError):
    """A file's decompressed content does not have the expected sha256."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No source could provide the dataset; the message lists every place tried."""


class FrameworkUnavailableError(SoftregError, ImportError):
    """A framework (or optional library) is missing or broken; the message says what to install."""


class CheckpointError(SoftregError):
    """A file is not a softreg checkpoint, or its arrays have the wrong shapes."""


class HistoryError(SoftregError, ValueError):
    """A saved training history (``history.json``, a checkpoint's metadata) is malformed."""


class InputImageError(SoftregError):
    """An image given to ``softreg predict`` cannot be used (wrong size, unreadable)."""


class ObjectGoneError(SoftregError, RuntimeError):
    """A cached compiled function asked for a net, loss or iterator that has been collected."""


class EngineError(SoftregError):
    """A sweep engine cannot be used: a Ray cluster that does not answer, or whose nodes lack
    softreg or a framework; the message says what to start or install."""
