"""The facts about Fashion-MNIST, in one table: files, counts, content hashes, mirrors, classes.

The sha256 values are those of each file's *decompressed* IDX content. Debian's
``dataset-fashion-mnist`` package recompressed the archives, so the hashes of the ``.gz`` bytes
differ between Debian and upstream while the content (and these hashes) are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from softreg.core.shape import ModelShape

Kind = Literal["images", "labels"]


@dataclass(frozen=True)
class IDXFile:
    """One dataset file.

    Attributes:
        split: ``"train"`` or ``"test"``.
        kind: ``"images"`` (IDX magic 0x00000803) or ``"labels"`` (0x00000801).
        filename: name of the gzip archive, as published upstream.
        count: number of images or labels the file holds.
        sha256: hex sha256 of the decompressed IDX content (header included).
    """

    split: str
    kind: Kind
    filename: str
    count: int
    sha256: str

    @property
    def stem(self) -> str:
        """The file name without ``.gz`` (the name of the uncompressed IDX file)."""
        return self.filename.removesuffix(".gz")


IMAGE_SHAPE: tuple[int, int] = (28, 28)
NUM_CLASSES = 10

CLASS_NAMES: tuple[str, ...] = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
# The same classes in Korean, for figures drawn with ``--labels ko``.
CLASS_NAMES_KO: tuple[str, ...] = (
    "티셔츠/탑", "바지", "풀오버", "드레스", "코트",
    "샌들", "셔츠", "스니커즈", "가방", "앵클 부츠",
)

FILES: tuple[IDXFile, ...] = (
    IDXFile("train", "images", "train-images-idx3-ubyte.gz", 60000,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    IDXFile("train", "labels", "train-labels-idx1-ubyte.gz", 60000,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    IDXFile("test", "images", "t10k-images-idx3-ubyte.gz", 10000,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    IDXFile("test", "labels", "t10k-labels-idx1-ubyte.gz", 10000,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
)

SPLITS: tuple[str, ...] = ("train", "test")

# Base URLs, tried in order; the file name is appended.
MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)

# The model shape the data states: W (10, 784), images 28 x 28 (pixels flattened row by row).
MODEL_SHAPE = ModelShape(CLASS_NAMES, IMAGE_SHAPE[0] * IMAGE_SHAPE[1], IMAGE_SHAPE)

DEBIAN_PACKAGE = "dataset-fashion-mnist"
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


def split_files(split: str) -> tuple[IDXFile, IDXFile]:
    """The (images, labels) files of ``split``.

    Raises:
        ConfigError: ``split`` is not ``"train"`` or ``"test"``.
    """
    from softreg.core.errors import ConfigError

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    by_kind = {f.kind: f for f in FILES if f.split == split}
    return by_kind["images"], by_kind["labels"]
