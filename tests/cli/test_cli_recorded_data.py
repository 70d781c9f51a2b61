"""The data a checkpoint records, read back by `evaluate`, `explain` and `train --resume`.

A file's path is recorded absolute, so the commands read the same file from any folder; its
content's fingerprint is compared, so a file changed since is refused in one line (with
``--data`` the user names other data on purpose). A saved estimator fitted on arrays with
labels 0..C-1 takes any data of C classes, as ``save(path, data=SPEC)`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.data import load
from softreg.data.spec import parse
from softreg.runfiles import checkpoint


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _table(path: Path, rows: int, seed: int) -> None:
    """A learnable CSV of three classes (two features, a ``label`` column)."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    x = rng.normal(size=(rows, 2)) + np.array([[0, 0], [3, 0], [0, 3]])[y]
    lines = ["a,b,label"] + [f"{u:.4f},{v:.4f},{k}" for (u, v), k in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _grow(path: Path) -> None:
    """Five rows more at the end of the CSV ``path`` (its 20% test split: one more)."""
    path.write_text(path.read_text() + "1.0,1.0,0\n" * 5)


def _accuracy(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("test: accuracy"))


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """``proj/t.csv`` (the data, named relative to proj) and ``elsewhere/t.csv`` (another
    table of the same name and shape); the current folder is proj."""
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    elsewhere.mkdir()
    _table(proj / "t.csv", 90, seed=0)
    _table(elsewhere / "t.csv", 60, seed=1)
    monkeypatch.chdir(proj)
    return proj, elsewhere


@pytest.fixture()
def run(places, capsys):
    """A run trained on ``--data csv:t.csv`` (relative), from proj."""
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "2",
                        "--val-split", "0.2", "--data", "csv:t.csv", "--out", "run",
                        "--no-figures", "--quiet")
    assert code == 0, err
    return places[0] / "run"


def test_a_files_path_is_recorded_absolute_and_a_named_set_as_written(places, monkeypatch):
    proj, _ = places
    assert load("csv:t.csv").spec == f"csv:{proj / 't.csv'}"
    monkeypatch.setenv("HOME", str(proj))
    assert parse("csv:~/t.csv").recorded() == f"csv:{proj / 't.csv'}"
    assert parse("folder:photos").recorded() == f"folder:{proj / 'photos'}"
    for named in ("sklearn:iris", "fashion-mnist", "mnist"):
        assert parse(named).recorded() == named


def test_a_folder_whose_name_a_checkpoint_cannot_hold_keeps_the_path_as_written(tmp_path,
                                                                               monkeypatch):
    odd = tmp_path / "new\nline"
    odd.mkdir()
    monkeypatch.chdir(odd)
    assert parse("csv:t.csv").recorded() == "csv:t.csv"


def test_evaluate_and_explain_read_the_recorded_file_from_any_folder(run, places, capsys,
                                                                     monkeypatch):
    proj, elsewhere = places
    assert checkpoint.load(run / checkpoint.LAST).meta["data"] == f"csv:{proj / 't.csv'}"
    code, here, err = _run(capsys, "evaluate", run, "--no-figures")
    assert code == 0, err
    monkeypatch.chdir(elsewhere)  # its own t.csv: 60 other rows
    code, there, err = _run(capsys, "evaluate", run, "--no-figures")
    assert code == 0, err
    assert _accuracy(there) == _accuracy(here) and "(18 examples)" in _accuracy(here)
    code, _, err = _run(capsys, "explain", run, "--no-figures")
    assert code == 0, err


def test_changed_data_is_refused_by_evaluate_explain_and_resume(run, places, capsys):
    proj, _ = places
    data = proj / "t.csv"
    _grow(data)
    spec = f"csv:{data}"
    ours = "(its test split could now hold other examples, even training ones); "
    for argv, where, ending in [
            (("evaluate", run, "--no-figures"), f"checkpoint {str(run / checkpoint.LAST)!r}",
             f"{ours}restore that data, or pass --data {spec} to score the model on the data "
             "as it is now"),
            # in the run folder, explain's temperature would replace the run's own: --out
            (("explain", run, "--no-figures"), f"checkpoint {str(run / checkpoint.LAST)!r}",
             "(its splits could now hold other examples, even training ones); explained in "
             "the run folder, its temperature would replace the run's calibration.json, which "
             f"predict --calibrated reads: restore that data, or pass --data {spec} --out DIR "
             "to explain the model on the data as it is now"),
            (("train", "--resume", run, "--epochs", "3", "--quiet"), f"the run in {str(run)!r}",
             f"{ours}restore that data, or start a new run on the data as it is now")]:
        code, out, err = _run(capsys, *argv)
        assert code == 2 and "accuracy" not in out, err
        assert err.startswith(f"softreg {argv[0]}: error: data {spec!r} changed since {where} "
                              "was made from it: its content's sha256 fingerprint is now ")
        assert err.strip().endswith(ending), err
        assert len(err.strip().splitlines()) == 1
    assert checkpoint.load(run / checkpoint.LAST).meta["epoch"] == 2  # not resumed
    code, out, err = _run(capsys, "evaluate", run, "--no-figures", "--data", "csv:t.csv")
    assert code == 0 and "(19 examples)" in _accuracy(out), err  # named on purpose: scored


def test_leaving_data_out_is_advised_only_when_data_is_given(run, places, capsys):
    proj, _ = places
    # 1 feature (b left out; a column more than the model's is left out, not refused)
    narrow = "\n".join(",".join(line.split(",")[::2])
                       for line in (proj / "t.csv").read_text().splitlines())
    (proj / "narrow.csv").write_text(narrow + "\n")
    trained_on = "was trained on 2 features and 3 classes (0, 1, 2); give data of the model's"
    code, _, err = _run(capsys, "evaluate", run, "--no-figures", "--data", "csv:narrow.csv")
    assert code == 2 and trained_on in err
    assert err.strip().endswith("shape and classes, or leave --data out to use the run's own")
    (proj / "t.csv").write_text((proj / "narrow.csv").read_text())  # the run's own, narrowed
    code, _, err = _run(capsys, "evaluate", run, "--no-figures")
    assert code == 2 and trained_on in err
    assert err.strip().endswith("shape and classes"), err  # leaving --data out: this same data


def test_a_checkpoint_without_a_fingerprint_is_read_unchecked(run, places, capsys):
    ck = checkpoint.load(run / checkpoint.LAST)
    meta = {k: v for k, v in ck.meta.items() if k != "data_fingerprint"}
    checkpoint.save(places[0] / "old.safetensors", checkpoint.Checkpoint(ck.W, ck.b, meta))
    _grow(places[0] / "t.csv")
    code, out, err = _run(capsys, "evaluate", places[0] / "old.safetensors", "--no-figures")
    assert code == 0 and "(19 examples)" in _accuracy(out), err


def test_a_saved_estimators_relative_data_is_recorded_absolute_and_checked(places, capsys,
                                                                          monkeypatch):
    need("sklearn")
    from softreg import SoftmaxRegression
    from softreg.estimator import load_split

    proj, elsewhere = places
    model = SoftmaxRegression().fit(*load_split("csv:t.csv", "train"))
    saved = model.save(proj / "m.safetensors", data="csv:t.csv")
    X, y = load_split("csv:t.csv", "test")
    monkeypatch.chdir(elsewhere)
    code, out, err = _run(capsys, "evaluate", saved, "--no-figures")
    assert code == 0, err
    assert _accuracy(out).startswith(f"test: accuracy {model.score(X, y):.4f}")
    _grow(proj / "t.csv")
    code, _, err = _run(capsys, "evaluate", saved, "--no-figures")
    assert code == 2 and f"data 'csv:{proj / 't.csv'}' changed since" in err


def test_an_estimator_fitted_on_class_indices_is_evaluated_on_data_of_its_classes(tmp_path,
                                                                                 capsys):
    need("sklearn")
    from sklearn.datasets import load_iris

    from softreg import SoftmaxRegression

    X, y = load_iris(return_X_y=True)
    model = SoftmaxRegression().fit(X, y)  # labels 0, 1, 2: the classes of sklearn:iris
    arrays = model.save(tmp_path / "arrays.safetensors")
    named = model.save(tmp_path / "named.safetensors", data="sklearn:iris")
    code, by_data, err = _run(capsys, "evaluate", arrays, "--no-figures",
                              "--data", "sklearn:iris")
    assert code == 0, err
    code, by_save, err = _run(capsys, "evaluate", named, "--no-figures")
    assert code == 0 and _accuracy(by_data) == _accuracy(by_save), err
    words = SoftmaxRegression().fit(X, np.array(["a", "b", "c"])[y])
    code, _, err = _run(capsys, "evaluate", words.save(tmp_path / "words.safetensors"),
                        "--no-figures", "--data", "sklearn:iris")
    assert code == 2 and "has class(es) 'setosa', 'versicolor', 'virginica' that" in err
    assert err.strip().endswith(
        "was trained on 4 features and 3 classes (a, b, c); give data of the model's classes "
        "(some of them are enough)"), err  # no advice to leave --data out: it records no data


def test_a_moved_project_still_reads_its_data_from_the_typed_path(run, places, capsys,
                                                                  monkeypatch):
    # the recorded absolute path is gone after the project folder moved; the path as typed
    # (relative to the current folder) finds the same data, and its fingerprint agrees
    import shutil

    proj, _ = places
    code, before, err = _run(capsys, "evaluate", run, "--no-figures")
    assert code == 0, err
    moved = proj.parent / "moved"
    shutil.move(proj, moved)
    monkeypatch.chdir(moved)
    for argv in (("evaluate", "run", "--no-figures"), ("explain", "run", "--no-figures"),
                 ("train", "--resume", "run", "--epochs", "3", "--quiet", "--no-figures")):
        code, out, err = _run(capsys, *argv)
        assert code == 0, err
        if argv[0] == "evaluate":
            assert _accuracy(out) == _accuracy(before)


def test_config_json_records_the_path_absolute_and_resume_takes_the_file_named_another_way(
        run, places, capsys, monkeypatch):
    proj, elsewhere = places
    absolute = f"csv:{proj / 't.csv'}"
    assert json.loads((run / "config.json").read_text())["data"] == absolute
    assert checkpoint.load(run / checkpoint.LAST).meta["config"]["data"] == absolute
    epochs = 2
    for where, spec in ((proj, "csv:./t.csv"), (proj, absolute), (elsewhere, "csv:../proj/t.csv"),
                        (elsewhere, "csv:t.csv")):  # the last: elsewhere's own t.csv
        monkeypatch.chdir(where)
        epochs += 1
        code, _, err = _run(capsys, "train", "--resume", run, "--data", spec, "--epochs",
                            epochs, "--quiet", "--no-figures")
        if spec != "csv:t.csv":
            assert code == 0, err
            continue
        assert code == 2 and err.strip() == (
            f"softreg train: error: --data csv:t.csv differs from the resumed run's data "
            f"{absolute}; a resumed run keeps its settings: drop --data or start a new run with "
            "--out")
    assert checkpoint.load(run / checkpoint.LAST).meta["epoch"] == 5


def test_explain_of_the_runs_own_file_named_another_way_writes_in_the_run(run, places, capsys,
                                                                         monkeypatch):
    proj, elsewhere = places
    for where, spec in ((proj, "csv:t.csv"), (proj, "csv:./t.csv"),
                        (elsewhere, "csv:../proj/t.csv")):
        monkeypatch.chdir(where)
        code, _, err = _run(capsys, "explain", run, "--data", spec, "--no-figures")
        assert code == 0, err
    code, _, err = _run(capsys, "explain", run, "--data", "csv:t.csv", "--no-figures")
    assert code == 2 and "is not the data of the run" in err  # elsewhere's own t.csv


def test_a_run_recorded_with_a_relative_path_resumes_with_it_named_any_way(places, capsys,
                                                                           monkeypatch):
    # a run folder of an older softreg: config.json (and the checkpoint's config) hold the
    # path as typed; the checkpoint's data, the path made absolute, tells which file it is
    import softreg.jobs.run

    proj, elsewhere = places
    monkeypatch.setattr(softreg.jobs.run, "recorded_data", lambda spec: spec)
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--data",
                        "csv:t.csv", "--out", "old", "--no-figures", "--quiet")
    assert code == 0, err
    monkeypatch.undo()
    monkeypatch.chdir(proj)
    assert json.loads((proj / "old" / "config.json").read_text())["data"] == "csv:t.csv"
    for epochs, where, spec in ((2, proj, "csv:t.csv"), (3, proj, "csv:./t.csv"),
                                (4, elsewhere, "csv:../proj/t.csv")):
        monkeypatch.chdir(where)
        code, _, err = _run(capsys, "train", "--resume", proj / "old", "--data", spec,
                            "--epochs", epochs, "--quiet", "--no-figures")
        assert code == 0, err
    assert json.loads((proj / "old" / "config.json").read_text())["data"] == "csv:t.csv"


def _columns(src: Path, dest: Path, order: tuple[int, ...], header: str | None = None) -> None:
    """``src``'s table with its columns in ``order`` (and another ``header``, if given)."""
    rows = [line.split(",") for line in src.read_text().splitlines()]
    lines = [",".join(r[i] for i in order) for r in rows]
    dest.write_text("\n".join([header or lines[0], *lines[1:]]) + "\n")


def test_evaluate_and_explain_match_another_tables_columns_by_name(run, places, capsys):
    proj, _ = places
    _columns(proj / "t.csv", proj / "ba.csv", (1, 0, 2))  # b,a,label: the same rows
    for argv in (("evaluate", run, "--no-figures"), ("explain", run, "--no-figures", "--out")):
        outs = []
        for spec in ("t.csv", "ba.csv"):
            out_dir = (proj / f"ex-{spec}",) if argv[0] == "explain" else ()
            code, out, err = _run(capsys, *argv, *out_dir, "--data", f"csv:{spec}")
            assert code == 0, err
            outs.append(out[:out.find("files:")].splitlines()[1:])  # the numbers
        assert outs[0] == outs[1] and any("accuracy" in line.lower() for line in outs[0])


@pytest.mark.parametrize(("header", "message"), [
    ("u,v,label", "lacks the feature column(s) 'a', 'b' that checkpoint {ck} was trained on, "
                  "and has 'u', 'v' instead; give a table of the model's feature columns (in "
                  "any order)"),
    ("a,z,label", "lacks the feature column(s) 'b' that checkpoint {ck} was trained on, and has "
                  "'z' instead"),
])
def test_a_table_of_other_feature_names_is_refused(run, places, capsys, header, message):
    proj, _ = places
    _columns(proj / "t.csv", proj / "other.csv", (0, 1, 2), header)
    ck = repr(str(run / checkpoint.LAST))
    for argv in (("evaluate", run, "--no-figures"), ("explain", run, "--no-figures", "--out",
                                                      proj / "ex")):
        code, out, err = _run(capsys, *argv, "--data", "csv:other.csv")
        assert code == 2 and "accuracy" not in out, err
        assert message.format(ck=ck) in err and len(err.strip().splitlines()) == 1
    assert not (proj / "ex" / "explain.md").exists()


def test_another_test_split_of_the_runs_own_data_is_refused(run, places, capsys):
    ck = str(run / checkpoint.LAST)
    for argv in (("evaluate", run, "--no-figures"), ("explain", run, "--no-figures")):
        code, out, err = _run(capsys, *argv, "--test-split", "0.9")
        assert code == 2 and "accuracy" not in out, err
        assert err.strip() == (
            f"softreg {argv[0]}: error: --test-split 0.9 is not the run's: checkpoint {ck!r} "
            "was trained with --test-split 0.2 (another fraction puts examples it trained on "
            "in the test split); leave --test-split out, or pass --data to score other data "
            "on purpose")
    code, out, err = _run(capsys, "evaluate", run, "--no-figures", "--test-split", "0.2")
    assert code == 0 and "(18 examples)" in _accuracy(out), err  # the run's own: as it was
    code, out, err = _run(capsys, "evaluate", run, "--no-figures", "--test-split", "0.9",
                          "--data", "csv:t.csv")
    assert code == 0 and "(81 examples)" in _accuracy(out), err  # data named on purpose


# ------------------------------------------------ data of some of the model's classes (--data)


def _rows(src: Path, dest: Path, labels: set[str], rows: int | None = None) -> Path:
    """The rows of ``src``'s table whose label is one of ``labels`` (the first ``rows``)."""
    head, *body = src.read_text().splitlines()
    kept = [line for line in body if line.rsplit(",", 1)[1] in labels][:rows]
    dest.write_text("\n".join([head, *kept]) + "\n")
    return dest


def _scored_by_hand(run: Path, table: Path, split: str = "test") -> tuple[float, int]:
    """The accuracy of ``run``'s model on the ``split`` of ``table`` (no test split of its own:
    20% of each class, seed 0), its labels read as the model's class names, and the count."""
    from softreg.data import train_val_split

    _, ck = checkpoint.load_model(run)
    data = np.loadtxt(table, delimiter=",", skiprows=1, dtype=str)  # (N, 3)
    X, names = data[:, :2].astype(np.float32), data[:, 2]
    y = np.array([ck.shape.class_names.index(n) for n in names])  # by name
    tr, te = train_val_split(y, 0.2, 0, name="--test-split")
    rows = te if split == "test" else tr
    pred = (X[rows] @ ck.W.T + ck.b).argmax(axis=1)
    return float(np.mean(pred == y[rows])), len(rows)


@pytest.mark.parametrize("labels", [{"1", "2"}, {"2"}, {"0", "2"}])
def test_evaluate_scores_data_of_some_of_the_models_classes_by_name(run, places, capsys,
                                                                   labels):
    proj, _ = places
    sub = _rows(proj / "t.csv", proj / "sub.csv", labels)  # 30 rows a class
    absent = sorted({"0", "1", "2"} - labels)
    for split in ("test", "train"):
        code, out, err = _run(capsys, "evaluate", run, "--data", "csv:sub.csv", "--split", split,
                              "--png", proj / f"{split}.png")
        assert code == 0 and err == "", err
        accuracy, count = _scored_by_hand(run, sub, split)
        assert count == len(labels) * (6 if split == "test" else 24)
        assert f"{split}: accuracy {accuracy:.4f}  " in out and f"({count} examples)" in out
        shown = ", ".join(repr(name) for name in absent)
        assert (f"no examples in the {split} split of {len(absent)} of the model's 3 classes: "
                f"{shown} (no accuracy; their rows of the confusion matrix are empty)") in out
        lines = out.splitlines()
        for name in absent:
            assert f"  {name:<12}      -  (no examples)" in lines
            assert [name, "0", "0", "0"] in [line.split() for line in lines]  # its empty row
        assert "nan" not in out.lower() and (proj / f"{split}.png").stat().st_size > 0


def test_explain_scores_data_of_some_of_the_models_classes(run, places, capsys):
    proj, _ = places
    _rows(proj / "t.csv", proj / "sub.csv", {"1", "2"})
    code, out, err = _run(capsys, "explain", run, "--data", "csv:sub.csv", "--out",
                          proj / "ex")
    assert code == 0 and err == "", err
    assert "nan%" not in out and "24 test examples" not in out and "12 test examples" in out
    page = (proj / "ex" / "explain.md").read_text()
    assert "| 0 | nan | nan | nan | 0 |" in page  # neither in the data nor predicted: said so
    assert "Neither in the test set nor predicted, so nan and left out of the averages: 0." \
        in page and "nan%" not in page
    assert (proj / "ex" / "reliability.png").is_file()


def test_a_file_of_one_class_is_scored_and_still_not_trained_on(run, places, capsys):
    proj, _ = places
    one = _rows(proj / "t.csv", proj / "one.csv", {"2"})
    code, out, err = _run(capsys, "evaluate", run, "--no-figures", "--data", "csv:one.csv")
    assert code == 0, err
    accuracy, count = _scored_by_hand(run, one)
    assert _accuracy(out) == f"test: accuracy {accuracy:.4f}  " + _accuracy(out).split("  ", 1)[1]
    assert f"({count} examples)" in out and count == 6
    code, out, err = _run(capsys, "explain", run, "--no-figures", "--data", "csv:one.csv",
                          "--out", proj / "ex1")
    assert code == 0 and "6 test examples" in out, err
    code, _, err = _run(capsys, "train", "--framework", "numpy", "--epochs", "1", "--quiet",
                        "--no-figures", "--data", "csv:one.csv", "--out", proj / "r1")
    assert code == 2 and "found 1 class(es) (2); a classifier needs at least 2" in err


def test_data_with_a_class_the_model_lacks_is_refused_in_one_line(run, places, capsys):
    proj, _ = places
    ck = repr(str(run / checkpoint.LAST))
    text = (proj / "t.csv").read_text()
    (proj / "x.csv").write_text(text + "1.0,1.0,x\n")
    many = "".join(f"1.0,1.0,{k}\n" for k in range(3, 12))
    (proj / "many.csv").write_text(text + many)
    for spec, extra in (("x.csv", "'x'"), ("many.csv", "'3', '4', '5', '6', '7' and 4 more")):
        for argv in (("evaluate", run, "--no-figures"),
                     ("explain", run, "--no-figures", "--out", proj / "ex")):
            code, out, err = _run(capsys, *argv, "--data", f"csv:{spec}")
            assert code == 2 and "accuracy" not in out, err
            assert err.strip() == (
                f"softreg {argv[0]}: error: data 'csv:{spec}' has class(es) {extra} that "
                f"checkpoint {ck} lacks: it was trained on 2 features and 3 classes (0, 1, 2); "
                "give data of the model's classes (some of them are enough), or leave --data "
                "out to use the run's own")
    assert not (proj / "ex" / "explain.md").exists()


def test_a_file_too_small_for_a_test_split_is_refused_in_one_line(run, places, capsys):
    proj, _ = places
    _rows(proj / "t.csv", proj / "tiny.csv", {"2"}, rows=2)  # 20% of 2 rows: none
    for argv in (("evaluate", run, "--no-figures"),
                 ("explain", run, "--no-figures", "--out", proj / "ex")):
        for split in (("--split", "train"),) if argv[0] == "evaluate" else ((),):
            code, out, err = _run(capsys, *argv, *split, "--data", "csv:tiny.csv")
            assert code == 2 and "accuracy" not in out, err
            assert err.strip() == (
                f"softreg {argv[0]}: error: data 'csv:tiny.csv' (2 examples) is too small to "
                "split as the model's run did: --test-split 0.2 of 2 labels leaves the test "
                "part empty; use a fraction closer to 0.5 or more data")


def test_an_estimator_fitted_on_class_indices_scores_some_of_them(tmp_path, capsys):
    need("sklearn")
    from sklearn.datasets import load_iris

    from softreg import SoftmaxRegression

    X, y = load_iris(return_X_y=True)
    model = SoftmaxRegression().fit(X, y)  # labels 0, 1, 2: its class names '0', '1', '2'
    arrays = model.save(tmp_path / "arrays.safetensors")
    keep = y > 0
    header = "a,b,c,d,label"
    rows = [",".join(f"{v:g}" for v in x) for x in X[keep]]
    (tmp_path / "idx.csv").write_text("\n".join(
        [header, *(f"{r},{k}" for r, k in zip(rows, y[keep], strict=True))]) + "\n")
    names = np.array(["setosa", "versicolor", "virginica"])
    (tmp_path / "names.csv").write_text("\n".join(
        [header, *(f"{r},{n}" for r, n in zip(rows, names[y[keep]], strict=True))]) + "\n")
    # labels that are the indices 1 and 2: the model's classes '1' and '2', by name
    code, out, err = _run(capsys, "evaluate", arrays, "--no-figures", "--data",
                          f"csv:{tmp_path / 'idx.csv'}")
    assert code == 0, err
    from softreg.data import train_val_split

    _, te = train_val_split(y[keep], 0.2, 0, name="--test-split")
    expected = model.score(X[keep][te], y[keep][te])
    assert _accuracy(out).startswith(f"test: accuracy {expected:.4f}  ") and "(20 " in out
    assert "of the model's 3 classes: '0'" in out
    # other names: taken as the indices in order, which needs all three classes
    code, out, err = _run(capsys, "evaluate", arrays, "--no-figures", "--data",
                          f"csv:{tmp_path / 'names.csv'}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert ("has 4 features and 2 classes (versicolor, virginica), but checkpoint "
            f"{str(arrays)!r} was fitted on the class indices 0..2: data of other class names "
            "is taken as those indices in order, so it needs all 3 classes; give data of 3 "
            "classes, or labels that are the indices (some of them are enough)") in err


def test_evaluate_and_explain_leave_out_a_column_the_model_lacks_as_predict_does(run, places,
                                                                                capsys):
    """The tester's case: ``predict`` took a table with a column more (``note``) and
    ``evaluate --data`` refused it; both take the model's columns by name now."""
    proj, _ = places
    rows = [line.split(",") for line in (proj / "t.csv").read_text().splitlines()]
    (proj / "noted.csv").write_text("\n".join(  # note,b,a,label: the same rows, a note more
        ",".join(["note" if i == 0 else "1.5", r[1], r[0], r[2]]) for i, r in enumerate(rows))
        + "\n")
    for argv in (("evaluate", run, "--no-figures"), ("explain", run, "--no-figures", "--out")):
        outs = []
        for spec in ("t.csv", "noted.csv"):
            out_dir = (proj / f"ex-{spec}",) if argv[0] == "explain" else ()
            code, out, err = _run(capsys, *argv, *out_dir, "--data", f"csv:{spec}")
            assert code == 0 and err == "", err
            outs.append(out[:out.find("files:")].splitlines()[1:])  # the numbers
        assert outs[0] == outs[1] and any("accuracy" in line.lower() for line in outs[0])
    features = proj / "features.csv"  # predict, on the same columns: it took them already
    features.write_text("\n".join(",".join([*r[:2], "1.5"]) if i else "a,b,note"
                                  for i, r in enumerate(rows[:4])) + "\n")
    code, out, err = _run(capsys, "predict", run, features, "--top-k", "1")
    assert code == 0, err
    (proj / "lacking.csv").write_text("\n".join(  # a,note,label: b missing
        ",".join([r[0], "note" if i == 0 else "1.5", r[2]]) for i, r in enumerate(rows))
        + "\n")
    ck = repr(str(run / checkpoint.LAST))
    code, _, err = _run(capsys, "evaluate", run, "--no-figures", "--data", "csv:lacking.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"lacks the feature column(s) 'b' that checkpoint {ck} was trained on, and has "
            "'note' instead") in err, err
    (proj / "t.csv").write_text((proj / "noted.csv").read_text())  # the run's own, widened:
    code, _, err = _run(capsys, "evaluate", run, "--no-figures")  # its content changed
    assert code == 2 and "changed since checkpoint" in err and len(err.splitlines()) == 1, err
