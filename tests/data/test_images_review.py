"""The data review's fixes: one decoding rule for a picture in training (``folder:``) and in
``predict``; a folder mixing gray and colour images; the folder layouts' messages; class names
a checkpoint cannot record, refused when the data is loaded; arrays' labels classed by value.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.errors import DataError, DataNotFoundError, InputImageError
from softreg.data import from_arrays
from softreg.data.dataset import MAX_DATA_CLASSES, NAMES_BYTES
from softreg.data.folder import load_folder
from softreg.data.images import load_image
from softreg.runfiles import checkpoint

H, W = 5, 6  # not square: a height read as a width shows


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _train(capsys, out: Path, *argv) -> tuple[int, str]:
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--quiet",
                        "--no-figures", "--out", out, *argv)
    return code, err


# ------------------------------------------------------------------- one rule for a picture


def _pictures(PIL, seed: int) -> dict[str, object]:
    """One picture of each mode under test, H x W, with transparent and 16-bit extremes."""
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha[0] = 0  # a transparent row hiding bright pixels
    rgb[0], gray[0] = 250, 250
    word = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    word[0, 0] = 1000  # 8-bit saturation made this 255; its full-range value is 4
    palette = PIL.fromarray((np.arange(H * W).reshape(H, W) % 3).astype(np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 255, 255, 255, 200, 30, 30] + [0] * 759)
    palette.info["transparency"] = 1
    return {
        "L": PIL.fromarray(gray, mode="L"),
        "RGB": PIL.fromarray(rgb, mode="RGB"),
        "RGBA": PIL.fromarray(np.dstack([rgb, alpha]), mode="RGBA"),
        "LA": PIL.fromarray(np.dstack([gray, alpha]), mode="LA"),
        "P": palette,
        "I;16": PIL.fromarray(word),
        "1": PIL.fromarray(gray > 127),
    }


def _mode_folder(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Two classes holding one picture of each mode; the files in the loader's order."""
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "modes"
    paths = []
    for seed, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for k, (mode, im) in enumerate(_pictures(PIL, seed).items()):
            path = root / cls / f"{k}.png"
            im.save(path)
            with PIL.open(path) as back:  # the file really has the mode under test
                assert back.mode == mode
            paths.append(path)
    return root, paths


@pytest.mark.parametrize("grayscale", [False, True])
def test_a_picture_gives_the_same_features_in_training_and_in_predict(tmp_path, grayscale):
    root, paths = _mode_folder(tmp_path)
    ds = load_folder(str(root), "folder:modes", None, grayscale)
    assert ds.image_shape == ((H, W) if grayscale else (H, W, 3))
    for path, pixels in zip(paths, ds.X_train, strict=True):
        np.testing.assert_array_equal(load_image(path, ds.image_shape),
                                      pixels.reshape(-1).astype(np.float32) / 255.0,
                                      err_msg=path.name)
    rgba, la, i16 = (paths.index(root / "a" / f"{k}.png") for k in (2, 3, 5))
    assert not ds.X_train[rgba][0].any() and not ds.X_train[la][0].any()  # transparent: 0
    assert (ds.X_train[i16][0, 0] == 4).all()  # 1000 of 65535, not saturated to 255


def _solid(PIL, path: Path, colour: tuple[int, int, int] | int) -> None:
    mode = "L" if isinstance(colour, int) else "RGB"
    PIL.new(mode, (W, H), colour).save(path)


@pytest.mark.parametrize("gray_first", [True, False])
def test_a_folder_with_any_colour_image_is_read_in_colour_whatever_comes_first(
        tmp_path, gray_first):
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "mixed"
    for cls, colour in (("blue", (0, 0, 255)), ("red", (255, 0, 0))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            _solid(PIL, root / cls / f"{i}.png", colour)
    gray = root / "blue" / ("0.png" if gray_first else "2.png")
    _solid(PIL, gray, 29)
    ds = load_folder(str(root), "folder:mixed", None, False)
    assert ds.image_shape == (H, W, 3)
    first, last = (29, (0, 0, 255)) if gray_first else ((0, 0, 255), 29)
    np.testing.assert_array_equal(ds.X_train[0], np.broadcast_to(first, (H, W, 3)))
    np.testing.assert_array_equal(ds.X_train[2], np.broadcast_to(last, (H, W, 3)))
    np.testing.assert_array_equal(ds.X_train[3], np.broadcast_to((255, 0, 0), (H, W, 3)))


def test_a_run_folder_written_inside_the_image_folder_is_not_a_class(capsys, tmp_path):
    """A run whose --out lies in the folder it trained on: its figures (in colour, of other
    sizes) became a class of the next run, and the run itself could not be evaluated on the
    data it recorded (4 classes against its 3)."""
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "gray"
    for cls, level in (("cat", 40), ("dog", 120), ("eel", 200)):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            _solid(PIL, root / cls / f"{i}.png", level + i)
    code, err = _train(capsys, root / "run1", "--data", f"folder:{root}")
    assert code == 0, err
    _solid(PIL, root / "run1" / "figure.png", (10, 200, 30))  # as a run's figures are
    ds = load_folder(str(root), f"folder:{root}", None, False)
    assert ds.class_names == ("cat", "dog", "eel") and ds.image_shape == (H, W)
    code, _, err = _run(capsys, "evaluate", root / "run1", "--no-figures")
    assert code == 0 and "Traceback" not in err, err


def test_the_wrong_size_message_gives_both_sizes_as_height_by_width(tmp_path):
    PIL = need("PIL", "PIL.Image")
    path = tmp_path / "wide.png"
    _solid(PIL, path, (1, 2, 3))  # 5 high, 6 wide
    with pytest.raises(InputImageError) as caught:
        load_image(path, (W, H, 3))
    assert str(caught.value).endswith(
        f"'{path}' is 5x6 pixels (height x width); softreg predicts on 6x5 colour images: "
        "resize it to 6x5 first")


# ----------------------------------------------------------------- folder layouts, FIFOs


def test_a_fifo_given_as_a_folder_is_called_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DataNotFoundError, match=r"'.*pipe' is a FIFO \(named pipe\), not a "
                                                r"folder; give a folder of class folders"):
        load_folder(str(fifo), "folder:pipe", None, False)


def test_a_train_and_val_layout_is_told_which_layouts_are_read(tmp_path):
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "trainval"
    for part in ("train", "val"):
        for cls in ("x", "y"):
            (root / part / cls).mkdir(parents=True)
            _solid(PIL, root / part / cls / "0.png", 10)
    with pytest.raises(DataError) as caught:
        load_folder(str(root), "folder:trainval", None, False)
    assert str(caught.value) == (
        f"folder:trainval: {str(root)!r} has a train/ folder but no test/ folder; softreg "
        "reads DIR/train/CLASS/IMAGE with DIR/test/CLASS/IMAGE, or DIR/CLASS/IMAGE (it then "
        "holds out its own test images): rename a val/ folder to test/, add test/, or give "
        "the folder of the class folders")


# ------------------------------------------------- class names a checkpoint cannot record


def test_a_class_folder_named_with_a_newline_is_refused_before_training(capsys, tmp_path):
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "names"
    for cls in ("a\nb", "c\td"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            _solid(PIL, root / cls / f"{i}.png", 40 * i)
    out = tmp_path / "run"
    code, err = _train(capsys, out, "--data", f"folder:{root}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "class name 'a\\nb' is not printable text" in err and "rename that class" in err
    assert not out.exists()  # nothing left to block the next try with the same --out


def _label_csv(path: Path, names: list[str]) -> Path:
    with open(path, "w") as f:
        f.write("x,label\n")
        for i in range(4 * len(names)):
            f.write(f"{i % 7 * 0.1:.1f},{names[i % len(names)]}\n")
    return path


def test_class_names_too_long_for_a_checkpoint_are_refused_when_loaded(capsys, tmp_path):
    """The review's 1-second case: 5 labels of 130,000 characters trained, then wrote a
    checkpoint over the header bound that softreg itself could not read."""
    data = _label_csv(tmp_path / "long.csv", [c * 130_000 for c in "abcde"])
    out = tmp_path / "run"
    code, err = _train(capsys, out, "--data", f"csv:{data}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "the 5 class names (the longest 130,000 characters) take 1,300," in err
    assert f"more than the {NAMES_BYTES:,} bytes a softreg checkpoint has for names; shorten " \
        "the names or use fewer classes" in err
    assert not out.exists()


def test_names_just_within_the_bound_make_a_checkpoint_softreg_reads(capsys, tmp_path):
    longest = NAMES_BYTES // 10 - 20  # 5 names, each recorded twice: just within the share
    data = _label_csv(tmp_path / "edge.csv", [c * longest for c in "abcde"])
    out = tmp_path / "run"
    code, err = _train(capsys, out, "--data", f"csv:{data}", "--epochs", "3")
    assert code == 0, err
    assert checkpoint.load(out / "checkpoint.safetensors").shape.class_names[0] == "a" * longest


def test_many_classes_are_refused_by_count_and_by_size():
    X = np.zeros((20_000, 1), np.float32)
    y = np.arange(20_000)
    with pytest.raises(DataError, match=r"the 20,000 class names \(the longest 30 characters\) "
                                        r"take 1,440,0\d\d bytes of checkpoint metadata"):
        from_arrays(X, y, class_names=[f"product-category-number-{i:06d}" for i in y])
    many = MAX_DATA_CLASSES + 1
    with pytest.raises(DataError, match=rf"{many:,} classes are more than the "
                                        rf"{MAX_DATA_CLASSES:,} a softreg checkpoint can name"):
        from_arrays(np.zeros((many, 1)), np.arange(many), class_names=[str(i) for i in
                                                                       range(many)])
    names = [str(i) for i in range(20_000)]  # short names: 20,000 classes fit
    assert len(from_arrays(X, y, class_names=names).class_names) == 20_000


def test_repeated_or_empty_class_names_are_refused():
    X, y = np.zeros((4, 1)), [0, 1, 0, 1]
    with pytest.raises(DataError, match="class name 'a' is given for two classes"):
        from_arrays(X, y, class_names=["a", "a"])
    with pytest.raises(DataError, match="class name '' is not printable text"):
        from_arrays(X, y, class_names=["", "b"])


# ---------------------------------------------------------- arrays' labels, classed by value


@pytest.mark.parametrize(("labels", "names", "first"), [
    ([0, 5], ("0", "5"), 0),  # no empty classes "1".."4"
    ([1, 2], ("1", "2"), 0),  # no empty class "0"
    ([-1, 0], ("-1", "0"), 0),
    ([0, 10**9], ("0", "1000000000"), 0),  # not 10**9 names
    ([7.0, 2.0], ("2", "7"), 1),
    (np.array([b"cat", b"dog"]), ("cat", "dog"), 0),
    (np.array(["dog", "cat"]), ("cat", "dog"), 1),
])
def test_arrays_labels_are_classed_by_their_distinct_values(labels, names, first):
    """``first``: the class of the first label; the labels alternate."""
    y = np.tile(np.asarray(labels), 3)
    ds = from_arrays(np.arange(len(y), dtype=np.float32)[:, None], y)
    assert ds.class_names == names
    assert ds.y_train.tolist() == [first, 1 - first] * 3


def test_arrays_labels_of_both_splits_share_their_classes():
    ds = from_arrays(np.zeros((4, 1)), [10, 20, 10, 20], np.zeros((2, 1)), [20, 10])
    assert ds.class_names == ("10", "20") and ds.y_test.tolist() == [1, 0]
    with pytest.raises(DataError, match="y holds numbers and y_test text; give the labels of "
                                        "both splits the same kind"):
        from_arrays(np.zeros((4, 1)), [0, 1, 0, 1], np.zeros((2, 1)), ["a", "b"])


def test_arrays_with_more_distinct_labels_than_classes_are_refused_before_naming_them():
    n = MAX_DATA_CLASSES + 1
    with pytest.raises(DataError, match=rf"the labels take {n:,} distinct values, more than the "
                                        rf"{MAX_DATA_CLASSES:,} classes"):
        from_arrays(np.zeros((n, 1)), np.arange(n) * 1000)


def _split_folder(PIL, root: Path) -> None:
    """``root/train/{a,b}`` (3 images each) and ``root/test/{a,b}`` (one each)."""
    for part, n in (("train", 3), ("test", 1)):
        for cls in ("a", "b"):
            (root / part / cls).mkdir(parents=True)
            for i in range(n):
                _solid(PIL, root / part / cls / f"{i}.png", 30 * i + (cls == "b") * 100)


def test_a_class_folder_or_image_beside_train_and_test_is_refused_not_dropped(capsys,
                                                                              tmp_path):
    """The tester's case: a class folder c/ of 10 images and a stray.png beside train/ and
    test/ were dropped without a word (the model had classes a, b); refused in one line now,
    naming them, before anything is written."""
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "photos"
    _split_folder(PIL, root)
    (root / "c").mkdir()
    for i in range(10):
        _solid(PIL, root / "c" / f"{i}.png", 7 * i)
    _solid(PIL, root / "stray.png", 9)
    with pytest.raises(DataError) as caught:
        load_folder(str(root), "folder:photos", None, False)
    assert str(caught.value) == (
        f"folder:photos: {str(root)!r} holds train/ and test/ folders, and beside them 'c/', "
        "'stray.png', which softreg does not read (it reads DIR/train/CLASS/IMAGE and "
        "DIR/test/CLASS/IMAGE): move them into train/ or test/, or out of the folder")
    with pytest.raises(DataError, match=r"beside them 'c/', 'stray\.png', which"):
        load_folder(str(root), "folder:photos", None, False, scoring=True)
    out = tmp_path / "run"
    code, err = _train(capsys, out, "--data", f"folder:{root}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "beside them 'c/', 'stray.png'" in err and not out.exists()
    for i in range(5):  # many: the first few named, then how many more
        (root / f"d{i}").mkdir()
    with pytest.raises(DataError, match=r"beside them 'c/', 'd0/', 'd1/', 'd2/', 'd3/' and 2 "
                                        r"more, which softreg"):
        load_folder(str(root), "folder:photos", None, False)


def test_beside_train_and_test_what_the_loader_skips_elsewhere_is_skipped(capsys, tmp_path):
    """Hidden files and folders, files that are not images (skipped in a class folder too)
    and a run folder written there are no data beside train/ and test/; a val/ folder is
    data that would be lost, and is refused as other folders are."""
    PIL = need("PIL", "PIL.Image")
    root = tmp_path / "photos"
    _split_folder(PIL, root)
    (root / "README.txt").write_text("photos of a and b\n")
    (root / "labels.csv").write_text("file,label\n")
    _solid(PIL, root / "._a.png", 5)  # a Mac's copy: hidden
    (root / ".thumbs").mkdir()
    _solid(PIL, root / ".thumbs" / "0.png", 5)
    code, err = _train(capsys, root / "run1", "--data", f"folder:{root}")  # a run inside it
    assert code == 0, err
    ds = load_folder(str(root), "folder:photos", None, False)
    assert ds.class_names == ("a", "b") and len(ds.y_train) == 6 and len(ds.y_test) == 2
    code, _, err = _run(capsys, "evaluate", root / "run1", "--no-figures")
    assert code == 0, err
    (root / "val" / "a").mkdir(parents=True)
    _solid(PIL, root / "val" / "a" / "0.png", 5)
    with pytest.raises(DataError, match=r"beside them 'val/', which softreg does not read .* "
                                        r"move them into train/ or test/, or out of the folder "
                                        r"\(softreg draws a validation part from train/ "
                                        r"itself, with --val-split\)$"):
        load_folder(str(root), "folder:photos", None, False)


def test_an_image_beside_the_class_folders_is_refused_not_dropped(tmp_path):
    """An image at DIR/x.png (or DIR/train/x.png) has no class folder, so no class: it was
    left unread without a word. Hidden files and files that are not images stay skipped."""
    PIL = need("PIL", "PIL.Image")
    flat = tmp_path / "flat"
    for cls in ("a", "b"):
        (flat / cls).mkdir(parents=True)
        for i in range(3):
            _solid(PIL, flat / cls / f"{i}.png", 30 * i + (cls == "b") * 100)
    (flat / "notes.txt").write_text("not an image")
    _solid(PIL, flat / ".hidden.png", 5)
    assert load_folder(str(flat), "folder:flat", None, False).class_names == ("a", "b")
    _solid(PIL, flat / "loose.png", 9)
    with pytest.raises(DataError) as caught:
        load_folder(str(flat), "folder:flat", None, False)
    assert str(caught.value) == (
        f"folder:flat: {str(flat)!r} holds image(s) 'loose.png' beside its class folders, "
        "which softreg does not read (an image's class is the folder it is in): move them into "
        "their class's folder, or out of the folder")
    split = tmp_path / "split"
    _split_folder(PIL, split)
    _solid(PIL, split / "train" / "stray.png", 9)
    with pytest.raises(DataError, match=r"'.*train' holds image\(s\) 'stray\.png' beside its "
                                        r"class folders"):
        load_folder(str(split), "folder:split", None, False, scoring=True)
