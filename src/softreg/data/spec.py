"""What ``--data`` may say: a named dataset, or a kind of source and its file or folder.

``fashion-mnist`` (the default), ``mnist``, ``kmnist``, ``emnist-balanced``: named datasets
of the IDX family (:mod:`softreg.data.named`); ``sklearn:digits|iris|wine|breast_cancer``:
scikit-learn's bundled sets; ``npz:FILE``, ``csv:FILE``, ``parquet:FILE``: arrays or a table
in a file; ``folder:DIR``: a folder of images, one subfolder per class. Parsing opens no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from softreg.core.errors import ConfigError

SOURCE_KINDS = ("sklearn", "npz", "csv", "parquet", "folder")
SKLEARN_SETS = ("digits", "iris", "wine", "breast_cancer")
# The longest spec a checkpoint's metadata holds (softreg.runfiles.checkpoint_meta).
MAX_RECORDED = 4096


def named_datasets() -> tuple[str, ...]:
    """The names of the table's datasets."""
    from softreg.data.named import DATASETS

    return tuple(DATASETS)


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value: ``kind`` is ``named`` or a source kind; ``target`` is the
    dataset's name, scikit-learn's set, or the file or folder."""

    kind: str
    target: str

    @property
    def text(self) -> str:
        """The spec as written (what config files hold)."""
        return self.target if self.kind == "named" else f"{self.kind}:{self.target}"

    def recorded(self) -> str:
        """The spec as a checkpoint records it: a file's or folder's path made absolute (``~``
        expanded), so that the checkpoint names the same data from any folder; a named
        dataset or scikit-learn's set as written.

        A path that cannot be recorded absolute (the current folder's name holds a character
        a checkpoint's metadata may not) stays as written; the data's fingerprint, checked
        when the checkpoint's data is read again, still tells another file apart.
        """
        if self.kind in ("named", "sklearn"):
            return self.text
        text = f"{self.kind}:{Path(self.target).expanduser().absolute()}"
        return text if text.isprintable() and len(text) <= MAX_RECORDED else self.text


def parse(text: object) -> DataSpec:
    """Parse a ``--data`` value.

    Raises:
        ConfigError: not a string, an unknown name (the known ones are listed), an unknown
            kind, an empty path, or an unknown scikit-learn set.
    """
    if not isinstance(text, str) or not text.strip() or not text.isprintable():
        raise ConfigError(f"data must be a dataset name or KIND:PATH, got {text!r}")
    kind, sep, target = text.partition(":")
    if not sep:
        names = named_datasets()
        if text not in names:
            raise ConfigError(
                f"unknown dataset {text!r}; known datasets: {', '.join(names)}; or give a "
                f"source as KIND:PATH with KIND one of {', '.join(SOURCE_KINDS)} "
                "(e.g. folder:photos, csv:table.csv, sklearn:digits)")
        return DataSpec("named", text)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"unknown data source kind {kind!r} in {text!r}; use one of "
                          f"{', '.join(SOURCE_KINDS)} (e.g. csv:table.csv), or a dataset name")
    if not target:
        raise ConfigError(f"data {text!r} names no {'set' if kind == 'sklearn' else 'path'}; "
                          f"write {kind}:{'NAME' if kind == 'sklearn' else 'PATH'}")
    if kind == "sklearn" and target not in SKLEARN_SETS:
        raise ConfigError(f"unknown scikit-learn dataset {target!r}; use one of "
                          f"{', '.join(SKLEARN_SETS)}")
    return DataSpec(kind, target)


def parse_image_size(text: str) -> tuple[int, int] | None:
    """``"HxW"`` -> (H, W); ``""`` -> None.

    Raises:
        ConfigError: not two positive integers joined by ``x``.
    """
    if text == "":
        return None
    h, sep, w = text.lower().partition("x")
    if sep and h.isdigit() and w.isdigit() and 0 < int(h) <= 4096 and 0 < int(w) <= 4096:
        return int(h), int(w)
    raise ConfigError(f"image_size must be HxW with H and W from 1 to 4096 (e.g. 32x32), got "
                      f"{text!r}")
