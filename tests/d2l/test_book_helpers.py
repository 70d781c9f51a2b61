"""The framework-neutral book helpers: d2l.plot / set_axes / plt figures, DATA_HUB download."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from softreg.core.errors import ChecksumError, ConfigError, DataError
from softreg.d2l import datahub, plotting

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def figs(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTREG_FIGURE_DIR", str(tmp_path / "figs"))
    return tmp_path / "figs"


def test_plot_outside_jupyter_writes_a_png_and_prints_its_path(figs, capsys):
    x = np.arange(0, 3, 0.5)
    assert plotting.plot(x, [x, x**2], "x", "f(x)", legend=["x", "x^2"], yscale="log") is None
    assert plotting.plot([1.0, 4.0, 2.0]) is None  # y only: against the index
    out = capsys.readouterr().out
    assert out.splitlines() == [f"plot: figure written to {figs / 'plot.png'}",
                                f"plot: figure written to {figs / 'plot-2.png'}"]
    assert (figs / "plot.png").read_bytes()[:8] == PNG


def test_plot_on_given_axes_draws_there_and_writes_nothing(figs, capsys):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    plotting.plot([0, 1, 2], [[0, 1, 4], [0, 2, 4]], xlabel="x", xlim=[0, 2], ylim=[0, 5],
                  axes=ax)
    assert len(ax.lines) == 2 and ax.get_xlabel() == "x" and ax.get_ylim() == (0, 5)
    assert capsys.readouterr().out == "" and not figs.exists()


def test_to_numpy_takes_tensors_by_their_own_methods():
    class Grad:  # a tensor that tracks gradients (torch's shape of API)
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.ones(2)

    class Eager:  # a TensorFlow tensor
        def numpy(self):
            return np.zeros(2)

    assert plotting.to_numpy(Grad()).tolist() == [1, 1]
    assert plotting.to_numpy([Eager()])[0].tolist() == [0, 0]


def test_pyplot_figures_left_open_are_written_when_the_program_ends(figs, capsys,
                                                                     monkeypatch):
    at_exit: list[object] = []  # not this test process's exit: pytest's other figures
    monkeypatch.setattr(plotting.atexit, "register", at_exit.append)
    monkeypatch.setattr(plotting, "_saver_registered", False)
    plt = plotting.book_pyplot()
    plotting.book_pyplot()
    assert at_exit == [plotting.save_open_figures]  # once
    plt.figure()
    plt.scatter([1, 2], [3, 4])
    plt.figure()  # empty: nothing to keep
    paths = plotting.save_open_figures()
    assert [p.name for p in paths] == ["plt.png"] and plt.get_fignums() == []
    assert re.fullmatch(r"d2l\.plt: figure \d+ written to .*plt\.png\n", capsys.readouterr().out)


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    src = tmp_path / "server" / "table.csv"
    src.parent.mkdir()
    src.write_text("a,b\n1,2\n")
    sha1 = hashlib.sha1(src.read_bytes()).hexdigest()
    monkeypatch.setitem(datahub.DATA_HUB, "table", (src.as_uri(), sha1))
    return src, sha1, tmp_path / "cache"


def test_download_fetches_checks_and_then_reuses(hub, capsys):
    src, _, cache = hub
    path = datahub.download("table", cache)
    assert Path(path).read_text() == "a,b\n1,2\n"
    assert capsys.readouterr().out.startswith("Downloading")
    src.write_text("changed")  # the copy in the cache is used from now on
    assert datahub.download("table", cache) == path and capsys.readouterr().out == ""


def test_download_keeps_nothing_with_the_wrong_sha1(hub, monkeypatch):
    src, _, cache = hub
    monkeypatch.setitem(datahub.DATA_HUB, "table", (src.as_uri(), "0" * 40))
    with pytest.raises(ChecksumError, match=r"table\.csv gave a file with SHA-1 [0-9a-f]{40}, "
                                            r"expected 0{40}: not kept; fetch it by hand"):
        datahub.download("table", cache)
    assert not cache.exists()  # nor the folder it made for the file


def test_a_failed_download_removes_only_the_folders_it_made(hub, tmp_path):
    src, _, _ = hub
    src.unlink()  # no such file on the server
    with pytest.raises(DataError, match=r"^cannot download file:"):
        datahub.download("table", tmp_path / "a" / "b" / "data")
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "other.csv").write_text("x")
    with pytest.raises(DataError, match=r"^cannot download file:"):
        datahub.download("table", kept / "data")
    assert [p.name for p in kept.iterdir()] == ["other.csv"]
    with pytest.raises(DataError, match=r"^cannot download file:"):
        datahub.download("table", kept)
    assert [p.name for p in kept.iterdir()] == ["other.csv"]


def test_download_never_replaces_a_different_file(hub):
    _, sha1, cache = hub
    cache.mkdir()
    (cache / "table.csv").write_text("mine")
    with pytest.raises(ChecksumError, match=rf"table\.csv has SHA-1 [0-9a-f]{{40}}, but table "
                                            rf"must have {sha1}: it is not the book's file; "
                                            r"move it away"):
        datahub.download("table", cache)
    assert (cache / "table.csv").read_text() == "mine"


def test_download_never_writes_over_a_dangling_link(hub):
    _, _, cache = hub
    cache.mkdir()
    (cache / "table.csv").symlink_to(cache / "elsewhere.csv")
    with pytest.raises(ConfigError, match=r"table\.csv' is a symbolic link, not a regular file"):
        datahub.download("table", cache)
    assert (cache / "table.csv").is_symlink() and not (cache / "elsewhere.csv").exists()


def test_download_offline_names_the_url_and_where_to_put_the_file(monkeypatch, tmp_path):
    monkeypatch.setitem(datahub.DATA_HUB, "gone", ("http://127.0.0.1:9/gone.csv", "a" * 40))
    with pytest.raises(DataError, match=r"^cannot download http://127\.0\.0\.1:9/gone\.csv "
                                        r"\(.*\); fetch it on a machine that can and put it at "
                                        rf"{re.escape(str(tmp_path.resolve()))}/gone\.csv "
                                        r"\(SHA-1 a{40}\)$"):
        datahub.download("gone", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"'nope' is not in DATA_HUB \(known: kaggle_house_test, "
                                          r"kaggle_house_train.*\); add it as DATA_HUB\[name\]"):
        datahub.download("nope")


def test_the_kaggle_entries_are_the_books():
    url, sha1 = datahub.DATA_HUB["kaggle_house_train"]
    assert url == datahub.DATA_URL + "kaggle_house_pred_train.csv" and len(sha1) == 40


def _archive_hub(monkeypatch, tmp_path, name, make):
    """DATA_HUB[name]: a local archive that ``make(path)`` writes; the cache folder."""
    src = tmp_path / "server" / name
    src.parent.mkdir(exist_ok=True)
    make(src)
    monkeypatch.setitem(datahub.DATA_HUB, "archive",
                        (src.as_uri(), hashlib.sha1(src.read_bytes()).hexdigest()))
    return tmp_path / "cache"


def test_download_extract_unpacks_a_zip_or_tar_beside_it_and_a_rerun_reuses_it(
        monkeypatch, tmp_path, capsys):
    import tarfile
    import zipfile

    def zipped(p):
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("house/train.csv", "a,b\n1,2\n")
            zf.writestr("house/test.csv", "a\n3\n")

    cache = _archive_hub(monkeypatch, tmp_path, "house.zip", zipped)
    folder = datahub.download_extract("archive", cache_dir=cache)
    assert folder == str((cache / "house").resolve())
    assert (Path(folder) / "train.csv").read_text() == "a,b\n1,2\n"
    assert datahub.download_extract("archive", "house", cache_dir=cache) == folder  # again
    (Path(folder) / "test.csv").write_text("mine, not the archive's")
    with pytest.raises(DataError, match=r"is already there and is not the archive's "
                                        r"'house/test\.csv'; move it away"):
        datahub.download_extract("archive", cache_dir=cache)
    assert (Path(folder) / "test.csv").read_text() == "mine, not the archive's"

    def tarred(p):
        inner = tmp_path / "t.csv"
        inner.write_text("x\n1\n")
        with tarfile.open(p, "w:gz") as tf:
            tf.add(inner, arcname="pack/t.csv")

    cache2 = _archive_hub(monkeypatch, tmp_path, "pack.tar.gz", tarred)
    folder = datahub.download_extract("archive", cache_dir=cache2)
    assert Path(folder).name == "pack" and (Path(folder) / "t.csv").read_text() == "x\n1\n"
    capsys.readouterr()


def test_download_extract_refuses_members_outside_its_folder_links_and_other_files(
        monkeypatch, tmp_path):
    import tarfile
    import zipfile

    def escaping(p):
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("../evil.txt", "out")

    cache = _archive_hub(monkeypatch, tmp_path, "bad.zip", escaping)
    with pytest.raises(DataError, match=r"member '\.\./evil\.txt' would be written outside"):
        datahub.download_extract("archive", cache_dir=cache)
    assert not (tmp_path / "evil.txt").exists()

    def linked(p):
        with tarfile.open(p, "w") as tf:
            info = tarfile.TarInfo("pack/passwd")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(info)

    cache = _archive_hub(monkeypatch, tmp_path, "link.tar", linked)
    with pytest.raises(DataError, match=r"member 'pack/passwd' is a link or a special file"):
        datahub.download_extract("archive", cache_dir=cache)
    assert not (cache / "pack").exists()
    cache = _archive_hub(monkeypatch, tmp_path, "plain.csv", lambda p: p.write_text("a\n1\n"))
    with pytest.raises(ConfigError, match=r"is neither a zip nor a tar archive"):
        datahub.download_extract("archive", cache_dir=cache)


def test_download_extract_bounds_the_members_it_reads(monkeypatch, tmp_path):
    import tarfile

    def many(p):
        inner = tmp_path / "x.csv"
        inner.write_text("a\n")
        with tarfile.open(p, "w") as tf:
            for i in range(4):
                tf.add(inner, arcname=f"pack/{i}.csv")

    cache = _archive_hub(monkeypatch, tmp_path, "many.tar", many)
    monkeypatch.setattr(datahub, "MAX_MEMBERS", 3)
    with pytest.raises(DataError, match=r"holds more than 3 members, more than softreg unpacks"):
        datahub.download_extract("archive", cache_dir=cache)
    assert not (cache / "pack").exists()
