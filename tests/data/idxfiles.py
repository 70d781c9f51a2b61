"""Helpers for the data tests: tiny real IDX files and a tiny Fashion-MNIST-shaped dataset.

``isolate`` points every place softreg looks for data (env vars, the user cache, the system
folder, the mirrors, the table of files) at folders under ``tmp_path`` and a tiny dataset, so
tests never touch the real files, the real cache or the network.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from softreg.data import fashion, sources
from softreg.data.fashion import IDXFile
from softreg.data.idx import header_bytes

COUNTS = {"train": 20, "test": 10}


def idx_bytes(array: np.ndarray, kind: str) -> bytes:
    """The IDX content (header + bytes) of a uint8 array."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    return header_bytes(kind, arr.shape) + arr.tobytes()  # type: ignore[arg-type]


def raw_idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX content with an arbitrary magic number and dimensions."""
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def write(path: Path, content: bytes, gz: bool = True) -> Path:
    """Write ``content`` to ``path``, gzip-compressed (mtime 0: reproducible) if ``gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


def tiny_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded images (n, 28, 28) and labels (n,) with every class present."""
    n = COUNTS[split]
    rng = np.random.default_rng(0 if split == "train" else 1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def tiny_contents() -> dict[str, bytes]:
    """File name -> IDX content of the tiny dataset (names as in the real table)."""
    out = {}
    for spec in fashion.FILES:
        images, labels = tiny_arrays(spec.split)
        array = images if spec.kind == "images" else labels
        out[spec.filename] = idx_bytes(array, spec.kind)
    return out


def tiny_specs() -> tuple[IDXFile, ...]:
    """The real table with the tiny dataset's counts and hashes."""
    contents = tiny_contents()
    return tuple(
        IDXFile(s.split, s.kind, s.filename, COUNTS[s.split],
                hashlib.sha256(contents[s.filename]).hexdigest())
        for s in fashion.FILES
    )


def write_tiny(folder: Path, gz: bool = True) -> Path:
    """Write the tiny dataset's four files into ``folder``."""
    for name, content in tiny_contents().items():
        write(folder / (name if gz else name.removesuffix(".gz")), content, gz=gz)
    return folder


def isolate(monkeypatch, tmp_path: Path) -> dict[str, Path]:
    """Redirect every data source to empty folders under ``tmp_path`` and use the tiny table."""
    places = {name: tmp_path / name for name in ("cache", "system", "env", "given")}
    monkeypatch.delenv(sources.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv(sources.ENV_CACHE_DIR, str(places["cache"]))
    monkeypatch.setattr(sources, "SYSTEM_DIRS", [places["system"]])
    monkeypatch.setattr(fashion, "FILES", tiny_specs())
    monkeypatch.setattr(fashion, "MIRRORS", ())
    return places


def all_files(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (relative paths), sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
