"""Input files that lie: each file's claims are checked before they cost memory or time.

IDX archives (gzip bombs, trailing data), the decoded ``.npy`` cache, explicit data folders
that are missing, and the images ``softreg predict`` reads (``.npy`` headers, PNG modes,
decompression bombs).
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import re
import struct
import sys
import threading
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli

from conftest import need
from softreg.core.errors import DataError, DataNotFoundError, IDXFormatError, InputImageError
from softreg.data import cache, fashion, load_fashion_mnist, sources
from softreg.data.idx import header_bytes, read_idx
from softreg.data.images import load_image
from softreg.runfiles import checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from idxfiles import all_files, idx_bytes, isolate, tiny_arrays, write, write_tiny

BOMB_ZEROS = 64 << 20  # decompressed size of the bombs' payload; their .gz is ~0.3 MB
MEMORY_LIMIT = 16 << 20  # a bomb must cost far less than its decompressed size
HUGE = 10**9


def _one_line_error(code, err, command):
    assert code == 2, err
    assert err.startswith(f"softreg {command}: error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def _peak_bytes(fn):
    """Call ``fn`` and return the peak of Python-traced memory above the start, in bytes."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()
    return peak


def _write_bomb(path: Path, head: bytes) -> Path:
    """A gzip archive of ``head`` followed by BOMB_ZEROS zero bytes, written as a stream."""
    zeros = bytes(1 << 20)
    with gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as gz:
        gz.write(head)
        for _ in range(BOMB_ZEROS // len(zeros)):
            gz.write(zeros)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "huge count": _write_bomb(folder / "huge.gz", header_bytes("images", (HUGE, 28, 28))),
        "trailing": _write_bomb(folder / "trailing.gz", idx_bytes(np.arange(3), "labels")),
    }


# --- IDX: gzip bombs, trailing data, truncation --------------------------------------------


def test_gzip_bomb_claiming_a_huge_count_is_refused_from_its_header(bombs):
    path = bombs["huge count"]
    assert path.stat().st_size < 1 << 20
    spec = fashion.FILES[0]  # the real table: 60000 images of 28x28

    def verify():
        with pytest.raises(IDXFormatError, match=re.escape(
                f"{path}: wrong dimensions {HUGE}x28x28 for images, expected 60000x28x28")):
            sources.verify(spec, path)

    assert _peak_bytes(verify) < MEMORY_LIMIT


def test_gzip_bomb_after_a_correct_header_is_trailing_data(bombs):
    path = bombs["trailing"]

    def read():
        with pytest.raises(IDXFormatError, match=re.escape(
                f"{path}: data too long: the header promises 3 = 3 bytes, the file holds at "
                "least 65539 (65536 or more extra)")):
            read_idx(path, "labels", count=3)

    assert _peak_bytes(read) < MEMORY_LIMIT


def test_without_an_expected_count_memory_follows_the_data_not_the_claim(tmp_path):
    path = write(tmp_path / "im.gz", header_bytes("images", (HUGE, 28, 28)) + bytes(1000))

    def read():
        with pytest.raises(IDXFormatError, match=re.escape(
                f"{path}: data too short: the header promises {HUGE}x28x28 = {HUGE * 784} "
                "bytes, the file holds 1000 (truncated?)")):
            read_idx(path, "images")

    assert _peak_bytes(read) < MEMORY_LIMIT


@pytest.mark.parametrize(("tail", "problem"), [
    (b"junk after the archive", r"corrupted gzip \(Not a gzipped file"),
    (b"cut", None),
])
def test_damage_around_the_gzip_stream_keeps_a_clear_error(tmp_path, tail, problem):
    packed = gzip.compress(idx_bytes(np.arange(3), "labels"), mtime=0)
    data = packed + tail if problem else packed[:-6]  # garbage after it, or its end cut off
    path = write(tmp_path / "lb.gz", data, gz=False)
    problem = problem or "truncated gzip: the archive ends before its end-of-stream marker"
    with pytest.raises(IDXFormatError, match=re.escape(f"{path}: ") + problem):
        read_idx(path, "labels", count=3)


def test_plain_idx_file_too_long_is_refused_before_its_data_is_read(tmp_path):
    path = write(tmp_path / "lb", idx_bytes(np.arange(3), "labels") + bytes(5000), gz=False)
    with pytest.raises(IDXFormatError, match=re.escape(
            "data too long: the header promises 3 = 3 bytes, the file holds 5003 (5000 extra)")):
        read_idx(path, "labels", count=3)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def test_a_bomb_served_by_a_mirror_is_refused_and_nothing_kept(tmp_path, monkeypatch, bombs):
    need("pooch")
    places = isolate(monkeypatch, tmp_path)
    spec = fashion.FILES[0]
    www = tmp_path / "www"
    www.mkdir()
    (www / spec.filename).write_bytes(bombs["huge count"].read_bytes())
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    dest = places["cache"] / "fashion-mnist"
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        def download():
            with pytest.raises(DataError, match=re.escape(
                    f"wrong dimensions {HUGE}x28x28 for images, expected 20x28x28")):
                sources.download(spec, dest, [url])

        assert _peak_bytes(download) < MEMORY_LIMIT
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert all_files(dest) == []


# --- the decoded .npy cache ----------------------------------------------------------------


@pytest.mark.parametrize("damage", ["trailing bytes", "huge shape in the header"])
def test_a_cache_file_that_is_not_exactly_the_expected_array_is_rebuilt(tmp_path, monkeypatch,
                                                                        damage):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    spec = fashion.FILES[0]
    source = places["system"] / spec.filename
    assert cache.load_verified(spec, source).status == "stored"
    npy, _ = cache.entry_paths(spec)
    if damage == "trailing bytes":
        with open(npy, "ab") as fh:
            fh.write(bytes(100))
    else:
        stat = npy.stat()
        with open(npy, "wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|u1", "fortran_order": False, "shape": (HUGE, 28, 28)})
        os.utime(npy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = cache.load_verified(spec, source)
    assert again.status == "stored"
    np.testing.assert_array_equal(again.array, tiny_arrays("train")[0])
    assert cache.load_verified(spec, source).status == "cached"


# --- explicit data folders that are missing or are files -----------------------------------


@pytest.fixture()
def places(monkeypatch, tmp_path):
    places = isolate(monkeypatch, tmp_path)
    write_tiny(places["system"])
    return places


def _bad_folder(places, what):
    bad = places["given"]
    if what == "a file":
        bad.write_text("not a folder")
        return bad, "not a folder (it is a regular file)"
    return bad, "folder does not exist"


def _point_at(monkeypatch, how, bad):
    if how == "--data-dir":
        return ["--data-dir", str(bad)]
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(bad))
    return []


@pytest.mark.parametrize("how", ["--data-dir", "$SOFTREG_DATA_DIR"])
@pytest.mark.parametrize("what", ["missing", "a file"])
def test_an_unusable_explicit_folder_is_named_in_a_warning(capsys, monkeypatch, places, how,
                                                           what):
    bad, problem = _bad_folder(places, what)
    code, out, err = run_cli(capsys, "data", *_point_at(monkeypatch, how, bad))
    assert code == 0, err
    assert err == (f"softreg: warning: {how} {bad}: {problem}; using system folder "
                   f"{places['system']} instead\n")
    assert "system folder: " in out


@pytest.mark.parametrize("how", ["--data-dir", "$SOFTREG_DATA_DIR"])
@pytest.mark.parametrize("what", ["missing", "a file"])
def test_an_unusable_explicit_folder_is_refused_offline(capsys, monkeypatch, places, how, what):
    bad, problem = _bad_folder(places, what)
    code, _, err = run_cli(capsys, "data", "--offline", *_point_at(monkeypatch, how, bad))
    _one_line_error(code, err, "data")
    assert err == (
        f"softreg data: error: {how} {bad}: {problem}; offline, softreg does not fall back to "
        f"another place (system folder {places['system']} has train-images-idx3-ubyte.gz): "
        "give an existing folder, or leave it out to search the other places\n")
    with pytest.raises(DataNotFoundError, match=re.escape(f"{how} {bad}: {problem}; offline")):
        load_fashion_mnist("test", data_dir=bad if how == "--data-dir" else None, offline=True)


def test_the_warning_names_a_download_when_one_is_used(capsys, monkeypatch, tmp_path):
    places = isolate(monkeypatch, tmp_path)
    spec = fashion.FILES[0]

    def fake_download(spec, dest, mirrors):
        return write_tiny(Path(dest)) / spec.filename

    monkeypatch.setattr(sources, "download", fake_download)
    found = sources.find(spec, data_dir=places["given"])
    assert found.origin == "download"
    dest = places["cache"] / "fashion-mnist"
    assert capsys.readouterr().err == (
        f"softreg: warning: --data-dir {places['given']}: folder does not exist; using a "
        f"download into {dest} instead\n")


# --- softreg predict: .npy headers ---------------------------------------------------------


@pytest.fixture()
def model(tmp_path):
    need("safetensors", "safetensors.numpy")
    rng = np.random.default_rng(0)
    W = rng.normal(size=(10, 784)).astype(np.float32)
    return checkpoint.save(tmp_path / "model.safetensors",
                           checkpoint.Checkpoint(W, np.zeros(10, np.float32), {"epoch": 1}))


def _npy_header_only(path, shape, descr="<f4"):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": descr, "fortran_order": False, "shape": shape})
    return path


def test_predict_refuses_a_huge_npy_from_its_header(capsys, model, tmp_path):
    big = _npy_header_only(tmp_path / "big.npy", (100000, 250000))  # 93 GiB of float32
    code, _, err = run_cli(capsys, "predict", model, big)
    _one_line_error(code, err, "predict")
    assert f"image {str(big)!r} has shape (100000, 250000); softreg predicts on 28x28" in err


def test_predict_refuses_an_npz_named_npy(capsys, model, tmp_path):
    fake = tmp_path / "img.npy"
    np.savez(tmp_path / "img.npz", x=np.zeros((28, 28), np.uint8))
    (tmp_path / "img.npz").rename(fake)
    code, _, err = run_cli(capsys, "predict", model, fake)
    _one_line_error(code, err, "predict")
    assert err.rstrip().endswith(
        f"image {str(fake)!r} is not a readable .npy array (it is a zip archive, as .npz files "
        "are: save one image with numpy.save)")


def test_predict_still_reads_a_good_npy(capsys, model, tmp_path):
    img = tmp_path / "ok.npy"
    np.save(img, np.arange(784, dtype=np.float32).reshape(28, 28, order="F") / 784)
    code, out, err = run_cli(capsys, "predict", model, img, "--top-k", "1")
    assert code == 0, err
    assert out.startswith(f"{img}: ")


@pytest.mark.parametrize(("extra", "have"), [(b"\0" * 4, 3140), (None, 3130)])
def test_npy_whose_data_does_not_match_its_header(tmp_path, extra, have):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((28, 28), np.float32))
    data = path.read_bytes()
    path.write_bytes(data + extra if extra else data[:-6])
    with pytest.raises(InputImageError, match=re.escape(
            f"image {str(path)!r} is not a readable .npy array (its header promises 3136 bytes "
            f"of data, the file holds {have})")):
        load_image(path)


def test_npy_format_3_and_object_dtype_are_refused(tmp_path):
    v3 = tmp_path / "v3.npy"
    with open(v3, "wb") as fh:
        np.lib.format.write_array(fh, np.zeros((28, 28), np.uint8), version=(3, 0))
    with pytest.raises(InputImageError, match=re.escape(
            "is not a readable .npy array (format version 3.0; save it with numpy.save)")):
        load_image(v3)
    obj = _npy_header_only(tmp_path / "obj.npy", (28, 28), descr="|O")
    with pytest.raises(InputImageError, match=re.escape(
            f"image {str(obj)!r} has dtype object; use uint8 or float")):
        load_image(obj)


# --- softreg predict: picture modes and decompression bombs --------------------------------


def _grid(low, high):
    """A 28x28 ramp from ``low`` to ``high`` (floats)."""
    return np.linspace(low, high, 784).reshape(28, 28)


def _luma(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2


def _mode_cases():
    """(mode, builder(PIL.Image) -> (image, file suffix), expected features in [0, 1])."""
    gray = _grid(0, 255).round().astype(np.uint8)
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    alpha[0, :] = 0  # a transparent row of white pixels must read as background (0)
    rgb[0, :] = 255
    word = _grid(0, 65535).round().astype(np.uint16)
    bits = (np.arange(784).reshape(28, 28) % 3 == 0)
    floats = _grid(0, 1).astype(np.float32)
    palette = [0, 0, 0, 255, 255, 255, 255, 0, 0] + [0] * 759
    index = (np.arange(784).reshape(28, 28) % 3).astype(np.uint8)
    colours = np.array(palette[:9], float).reshape(3, 3)

    def p_image(PIL, transparent):
        im = PIL.fromarray(index, mode="P")
        im.putpalette(palette)
        if transparent:
            im.info["transparency"] = 1
        return im

    p_plain = _luma(colours)[index] / 255
    p_clear = np.where(index == 1, 0.0, p_plain)
    return [
        ("L", lambda PIL: PIL.fromarray(gray, mode="L"), ".png", gray / 255),
        ("LA", lambda PIL: PIL.fromarray(np.dstack([gray, alpha]), mode="LA"), ".png",
         gray / 255 * alpha / 255),
        ("RGB", lambda PIL: PIL.fromarray(rgb, mode="RGB"), ".png", _luma(rgb) / 255),
        ("RGBA", lambda PIL: PIL.fromarray(np.dstack([rgb, alpha]), mode="RGBA"), ".png",
         _luma(rgb) / 255 * alpha / 255),
        ("P", lambda PIL: p_image(PIL, False), ".png", p_plain),
        ("P+transparency", lambda PIL: p_image(PIL, True), ".png", p_clear),
        ("I;16", lambda PIL: PIL.fromarray(word), ".png", word / 65535),
        ("I", lambda PIL: PIL.fromarray(word.astype(np.int32)), ".tiff", word / 65535),
        ("1", lambda PIL: PIL.fromarray(bits), ".png", bits.astype(float)),
        ("F", lambda PIL: PIL.fromarray(floats), ".tiff", floats),
    ]


@pytest.mark.parametrize(("mode", "build", "suffix", "expected"), _mode_cases(),
                         ids=[c[0] for c in _mode_cases()])
def test_each_picture_mode_reads_as_documented(tmp_path, mode, build, suffix, expected):
    PIL = need("PIL", "PIL.Image")
    path = tmp_path / f"img{suffix}"
    build(PIL).save(path)
    with PIL.open(path) as im:  # the file really has the mode under test
        assert im.mode == mode.split("+")[0] or (mode, im.mode) == ("I;16", "I")
    x = load_image(path)
    assert x.dtype == np.float32 and x.shape == (784,)
    # Pillow's luma is rounded to an integer: at most half a gray level away
    np.testing.assert_allclose(x, expected.reshape(-1), rtol=0, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize(("array", "message"), [
    (np.full((28, 28), 70000, np.int32),
     "has I pixels from 70000 to 70000; integer pictures must be 16-bit gray, 0..65535"),
    (np.full((28, 28), 2.0, np.float32),
     r"float pixel values must be finite and in [0, 1] (got min 2.0, max 2.0)"),
])
def test_pictures_out_of_range_are_refused(tmp_path, array, message):
    PIL = need("PIL", "PIL.Image")
    path = tmp_path / "img.tiff"
    PIL.fromarray(array).save(path)
    with pytest.raises(InputImageError, match=re.escape(message)):
        load_image(path)


def _png_header_only(width, height):
    """A PNG that claims width x height 8-bit gray pixels (and holds none): a few bytes."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20000, 10000])  # over the limit twice / once (a warning)
def test_predict_refuses_a_decompression_bomb_png_in_one_line(capsys, model, tmp_path, side):
    need("PIL", "PIL.Image")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(side, side))
    assert bomb.stat().st_size < 100
    code, _, err = run_cli(capsys, "predict", model, bomb)
    _one_line_error(code, err, "predict")
    assert re.search(re.escape(f"image {str(bomb)!r} is too large to open safely (Image size "
                               f"({side * side} pixels) exceeds limit of ")
                     + r"\d+ pixels.*\); softreg predicts on 28x28 grayscale images", err), err


def test_a_lower_pixel_limit_is_honoured(monkeypatch, tmp_path):
    PIL = need("PIL", "PIL.Image")
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", 100)  # 28x28 = 784 > 2 x 100
    path = tmp_path / "img.png"
    PIL.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    with pytest.raises(InputImageError, match="is too large to open safely"):
        load_image(path)
