"""torch and Keras exports of models trained on tables: scikit-learn's digits (64 features,
10 classes, pixels kept as numbers) and wine (13 features, 3 classes, standardised for
training). Each export is loaded back by its own runtime, fed the *raw* rows (the stored
standardisation must be in the exported weights) and held to ``softreg predict``'s
probabilities for the same rows.

Tolerance: both sides compute in float32 and sum the D + 1 terms of a logit in other orders;
probabilities then agree within 1e-5 (a wrong layout, a missing bias or a forgotten
standardisation moves them by whole tenths).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.numerics import softmax
from softreg.data import load

PROBS_ATOL = 1e-5
SETS = {"digits": (10, 64), "wine": (3, 13)}


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture(scope="module", params=list(SETS))
def table_run(request, tmp_path_factory):
    """A NumPy run on a scikit-learn table, some raw rows and ``predict``'s probabilities."""
    need("sklearn")
    name = request.param
    classes, features = SETS[name]
    tmp = tmp_path_factory.mktemp(name)
    run = tmp / "run"
    code = main(["train", "--framework", "numpy", "--data", f"sklearn:{name}", "--epochs", "10",
                 "--batch-size", "16", "--seed", "1", "--quiet", "--no-figures",
                 "--out", str(run)])
    assert code == 0
    X = load(f"sklearn:{name}").X_train  # raw, unstandardised; sorted by class in wine
    rows = np.ascontiguousarray(X[np.linspace(0, len(X) - 1, 25).astype(int)])
    np.save(tmp / "rows.npy", rows)
    return {"name": name, "run": run, "rows": rows, "rows_file": tmp / "rows.npy",
            "classes": classes, "features": features}


def _predicted(capsys, tr) -> np.ndarray:
    """``softreg predict``'s probabilities of every class, (N, C), in class order."""
    from softreg.runfiles import checkpoint

    out = _run(capsys, "predict", tr["run"], tr["rows_file"], "--json", "--top-k",
               tr["classes"])
    names = checkpoint.load(tr["run"] / "checkpoint.safetensors").meta["class_names"]
    probs = np.zeros((len(tr["rows"]), tr["classes"]))
    for i, r in enumerate(json.loads(out)):
        for entry in r["top"]:
            probs[i, names.index(entry["class"])] = entry["probability"]
    return probs


def _same_as_predict(probs: np.ndarray, predicted: np.ndarray, tr) -> None:
    np.testing.assert_allclose(probs, predicted, rtol=0, atol=PROBS_ATOL)
    assert (probs.argmax(axis=1) == predicted.argmax(axis=1)).all()
    # not a trivial model: its predictions differ between rows
    assert len(set(predicted.argmax(axis=1).tolist())) > 1, tr["name"]


def test_torch_export_of_a_table_model_matches_predict(capsys, table_run):
    torch = need("torch")
    from safetensors.torch import load_file

    tr = table_run
    C, D = tr["classes"], tr["features"]
    printed = _run(capsys, "export", tr["run"], "--format", "torch", "--overwrite")
    assert f"torch.nn.Linear({D}, {C})" in printed
    state = load_file(str(tr["run"] / "model_torch.safetensors"))
    assert {k: tuple(v.shape) for k, v in state.items()} == {"1.weight": (C, D),
                                                             "1.bias": (C,)}
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(D, C))
    net.load_state_dict(state)
    with torch.no_grad():
        logits = net(torch.from_numpy(tr["rows"])).numpy()  # raw rows: scaling is inside
    _same_as_predict(softmax(logits.astype(np.float64), axis=-1), _predicted(capsys, tr), tr)


def test_keras_export_of_a_table_model_matches_predict(capsys, table_run):
    need("tensorflow")
    from softreg.backends._tf import import_tensorflow

    keras = import_tensorflow().keras
    tr = table_run
    _run(capsys, "export", tr["run"], "--format", "keras", "--overwrite")
    model = keras.models.load_model(str(tr["run"] / "model.keras"))
    assert tuple(model.input_shape) == (None, tr["features"])
    assert tuple(model.output_shape) == (None, tr["classes"])
    logits = np.asarray(model.predict(tr["rows"], verbose=0))
    _same_as_predict(softmax(logits.astype(np.float64), axis=-1), _predicted(capsys, tr), tr)


def test_torch_export_of_a_colour_image_model_says_it_takes_channels_last(capsys, tmp_path):
    """The state_dict flattens (N, H, W, 3) as softreg does; torchvision's (N, 3, H, W) gave
    other probabilities, and only the file's metadata said so. The printed loading line says
    it, and the permutation it gives matches predict."""
    torch = need("torch")
    PIL = need("PIL", "PIL.Image")
    from safetensors.torch import load_file

    rng = np.random.default_rng(0)
    root = tmp_path / "colour"
    for k, cls in enumerate(("red", "green")):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 120, (4, 5, 3), dtype=np.uint8)
            pixels[..., k] += 120
            PIL.fromarray(pixels).save(root / cls / f"{i}.png")
    run = tmp_path / "run"
    _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{root}", "--epochs", "5",
         "--quiet", "--no-figures", "--out", run)
    printed = _run(capsys, "export", run, "--format", "torch")
    assert "colour images channels last, (N, 4, 5, 3)" in printed
    assert "net(x.permute(0, 2, 3, 1))" in printed
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(60, 2))
    net.load_state_dict(load_file(str(run / "model_torch.safetensors")))
    image = root / "red" / "0.png"
    x = torch.from_numpy(np.asarray(PIL.open(image), np.float32) / 255)[None]  # (1, 4, 5, 3)
    nchw = x.permute(0, 3, 1, 2)  # torchvision's layout
    with torch.no_grad():
        probs = torch.softmax(net(nchw.permute(0, 2, 3, 1)), dim=1).numpy()[0]
    out = _run(capsys, "predict", run, image, "--json", "--top-k", "2")
    top = {e["class"]: e["probability"] for e in json.loads(out)[0]["top"]}
    np.testing.assert_allclose(probs, [top["green"], top["red"]], atol=PROBS_ATOL)


def test_the_loading_snippet_of_a_run_of_resized_pictures_says_to_resize_them(capsys,
                                                                             tmp_path):
    """A run trained with --image-size read its pictures resized; the exported file takes
    that size only, and its loading lines said nothing of it (12x10 pictures fed to a 6x5
    model gave 4 rows of probabilities a picture, without an error)."""
    need("safetensors")
    PIL = need("PIL", "PIL.Image")
    rng = np.random.default_rng(1)
    root = tmp_path / "pics"
    for k, cls in enumerate(("dark", "light")):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            PIL.fromarray(rng.integers(0, 100, (12, 10), dtype=np.uint8) + 120 * k).save(
                root / cls / f"{i}.png")
    sized, plain = tmp_path / "sized", tmp_path / "plain"
    for out, extra in ((sized, ("--image-size", "6x5")), (plain, ())):
        _run(capsys, "train", "--framework", "numpy", "--data", f"folder:{root}", *extra,
             "--epochs", "1", "--quiet", "--no-figures", "--out", out)
    printed = _run(capsys, "export", sized, "--format", "torch")
    assert "# the run read its pictures resized to 6x5 (--image-size): resize yours so" in printed
    assert "resized to" not in _run(capsys, "export", plain, "--format", "torch")
