"""``softreg data``: find (or download) and verify a named dataset's files, say where they are,
print counts per class, optionally draw a sample grid (``--data NAME``, default Fashion-MNIST)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from softreg.cli.train import add_data_args

MAX_SAMPLES = 100


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from softreg.data.spec import named_datasets

    p = sub.add_parser(
        "data", help="find, verify and describe a named dataset's files",
        description="Find the four files of a named dataset (--data, default fashion-mnist: "
        "--data-dir, $SOFTREG_DATA_DIR, the dataset's folder in the user cache, for "
        "Fashion-MNIST /usr/share/datasets/fashion-mnist; else download), verify them, say "
        "where they are and print counts per class.",
    )
    p.add_argument("--data", default="fashion-mnist", metavar="NAME",
                   help=f"the named dataset: {', '.join(named_datasets())} [%(default)s]")
    add_data_args(p, settings=False)
    p.add_argument("--sample", metavar="PNG", help="write a grid of training images to PNG; "
                   "an existing file is refused")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --sample file")
    p.add_argument("--for", dest="for_loader", metavar="LOADER",
                   choices=("torchvision", "keras", "mxnet"),
                   help="also put the verified files where this framework's own Fashion-MNIST "
                   "loader looks (torchvision, keras or mxnet), for the book's section 3.5 "
                   "offline")
    p.add_argument("root", nargs="?", metavar="ROOT",
                   help="with --for: the loader's root folder (torchvision: the root= of "
                   "FashionMNIST, default ../data as in the book; keras: $KERAS_HOME, default "
                   "~/.keras; mxnet: $MXNET_HOME, default ~/.mxnet)")
    p.add_argument("--n", type=int, default=24,
                   help=f"number of images in the --sample grid, 1..{MAX_SAMPLES} [%(default)s]")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from softreg.core.errors import ConfigError
    from softreg.safety import fileio

    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n must be between 1 and {MAX_SAMPLES}, got {args.n}")
    if args.root is not None and args.for_loader is None:
        raise ConfigError(f"ROOT ({args.root}) is the folder of a framework's loader: give "
                          "--for torchvision, keras or mxnet with it")
    entry = _named(args.data)
    if args.for_loader is not None:
        if entry.name != "fashion-mnist":
            raise ConfigError(f"--for places Fashion-MNIST's files where a framework's own "
                              f"loader looks (the book's section 3.5); it is not for --data "
                              f"{entry.name}: leave --data out")
        return _place_for(args.for_loader, args.root, args.data_dir, args.offline)
    if args.sample:
        fileio.refuse_existing(Path(args.sample), "--sample", overwrite=args.overwrite,
                               suffix=".png")
    if entry.idx is None:  # Fashion-MNIST: content hashes, the decoded cache
        arrays = _find_and_verify(args.data_dir, args.offline)
    else:
        arrays = _find_and_read(entry.idx, args.data_dir, args.offline)
    _print_counts(arrays, entry.class_names)
    if args.sample:
        from softreg.plots.images import image_grid

        images, labels = arrays["train"]
        n = args.n
        titles = [entry.class_names[int(k)] for k in labels[:n]]
        path = fileio.write_new(
            Path(args.sample), lambda tmp: image_grid(images[:n], titles, path=tmp,
                                                      ncols=min(n, 8)),
            overwrite=args.overwrite, flag="--sample", suffix=".png")
        print(f"sample: {n} training images written to {path}")
    return 0


def _named(text: str) -> Any:
    """The table entry ``--data`` names.

    Raises:
        ConfigError: an unknown name (the known ones listed), or a source that is not a
            named dataset.
    """
    from softreg.core.errors import ConfigError
    from softreg.data import named
    from softreg.data.spec import parse

    parsed = parse(text)
    if parsed.kind != "named":
        raise ConfigError(f"softreg data finds and verifies the files of a named dataset "
                          f"({', '.join(named.DATASETS)}); {text!r} is read where it is: give "
                          "it to softreg train --data")
    return named.DATASETS[parsed.target]


def _find_and_read(ds: Any, data_dir: str | None,
                   offline: bool) -> dict[str, tuple[Any, Any]]:
    """Locate (or download) and read every file of an IDX-family entry
    (:class:`softreg.data.idxsets.IDXSet`); {split: (images, labels)}."""
    from softreg.data import idxsets

    print(f"{ds.name} files:")
    decoded: dict[tuple[str, str], Any] = {}
    paths: dict[tuple[str, str], str] = {}
    for spec in ds.files:
        path = idxsets.find(ds, spec, data_dir, offline)
        decoded[spec.split, spec.kind] = idxsets.read_file(ds, spec, path)
        paths[spec.split, spec.kind] = str(path)
        if spec.gz_md5:
            how = f"md5 {spec.gz_md5[:12]}... matches"
        else:  # no hash of the file is published (EMNIST: only of its archive)
            how = "no published hash of this file"
            if ds.archive is not None:
                how += f" (softreg checks {ds.archive.filename}'s md5 when it extracts it)"
        print(f"  {spec.filename:42s} {path}")
        print(f"  {'':42s} verified: {how}, {spec.count} {spec.kind}, format checked")
    return _checked_pairs(decoded, paths)


def _find_and_verify(data_dir: str | None, offline: bool) -> dict[str, tuple[Any, Any]]:
    """Locate, fully verify and cache every file; return {split: (images, labels)}."""
    from softreg.data import cache, fashion, first_verified
    from softreg.data.sources import find, verify

    print("Fashion-MNIST files:")
    decoded: dict[tuple[str, str], Any] = {}
    paths: dict[tuple[str, str], str] = {}
    for spec in fashion.FILES:  # verify each file as soon as it is found: first problem stops
        # the copy train would use; always re-read and re-hashed here
        data, found = first_verified(spec, find(spec, data_dir=data_dir, offline=offline),
                                     data_dir, partial(verify, spec))
        state = _refresh_cache(spec, found.path, data.array)
        print(f"  {spec.filename:28s} {found.origin}: {found.path}")
        print(f"  {'':28s} verified: content sha256 {data.sha256[:16]}... matches, "
              f"{spec.count} {spec.kind}; {state}")
        decoded[spec.split, spec.kind] = data.array
        paths[spec.split, spec.kind] = str(found.path)
    print(f"decoded cache: {cache.decoded_dir()}")
    return _checked_pairs(decoded, paths)


def _place_for(loader: str, root: str | None, data_dir: str | None, offline: bool) -> int:
    """``--for LOADER``: verify each file, then write it where that loader looks."""
    from softreg.data import fashion, first_verified, loader_files
    from softreg.data.sources import find, verify

    if loader == "mxnet":  # refused before anything is read: no copy can pass Gluon's check
        loader_files.place(loader, root, {})
    found = {}
    for spec in fashion.FILES:
        _, used = first_verified(spec, find(spec, data_dir=data_dir, offline=offline),
                                 data_dir, partial(verify, spec))
        found[spec.filename] = used.path
    for dest, what in loader_files.place(loader, root, found):
        print(f"  {dest}: {what}")
    folder = loader_files.target_dir(loader, root)
    if loader == "torchvision":
        base = folder.parent.parent
        print(f"torchvision.datasets.FashionMNIST(root={str(base)!r}, download=True) now finds "
              "them and downloads nothing")
    else:
        base = folder.parent.parent
        hint = "" if base == loader_files.default_root("keras") else \
            f" with KERAS_HOME={base}"
        print(f"tf.keras.datasets.fashion_mnist.load_data() now finds them{hint} and "
              "downloads nothing")
    return 0


def _refresh_cache(spec: Any, path: Any, array: Any) -> str:
    from softreg.data import cache

    if cache.read_cached(spec, path) is not None:
        return "decoded cache valid"
    problem = cache.store(spec, path, array)
    return "decoded cache rebuilt" if problem is None else f"decoded cache not written: {problem}"


def _print_counts(arrays: dict[str, tuple[Any, Any]], class_names: tuple[str, ...]) -> None:
    import numpy as np

    counts = {s: np.bincount(y, minlength=len(class_names)) for s, (_, y) in arrays.items()}
    print(f"{'class':>14s} {'train':>7s} {'test':>7s}")
    for k, name in enumerate(class_names):
        print(f"{k:>2d} {name:>11s} {counts['train'][k]:7d} {counts['test'][k]:7d}")
    print(f"{'total':>14s} {len(arrays['train'][1]):7d} {len(arrays['test'][1]):7d}")


def _checked_pairs(decoded: dict[tuple[str, str], Any],
                   paths: dict[tuple[str, str], Any]) -> dict[str, tuple[Any, Any]]:
    """{split: (images, labels)} of verified files, each pair's counts checked together."""
    from softreg.data import check_pair

    out = {}
    for split in ("train", "test"):
        images, labels = decoded[split, "images"], decoded[split, "labels"]
        check_pair(images, labels, str(paths[split, "images"]), str(paths[split, "labels"]))
        out[split] = (images, labels)
    return out
