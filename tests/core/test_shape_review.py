"""A model shape softreg never writes is refused when it is read: colour images of other than
3 channels (predict would fail on them with a traceback, export would write a graph of them),
and class names that repeat or are empty (the commands would print classes that cannot be told
apart)."""

from __future__ import annotations

import numpy as np
import pytest

from softreg.cli import main
from softreg.core.errors import CheckpointError
from softreg.core.shape import ModelShape, shape_problem
from softreg.runfiles import checkpoint


@pytest.mark.parametrize(("raw", "problem"), [
    ({"class_names": ["a", "b"], "features": 4, "image_shape": [2, 2, 1]},
     "declares images of 1 channels (2x2x1), but softreg's colour images have 3"),
    ({"class_names": ["a", "b"], "features": 4, "image_shape": [1, 1, 4]},
     "declares images of 4 channels (1x1x4), but softreg's colour images have 3"),
    ({"class_names": ["a", "a", "c"], "features": 4}, "names the class 'a' twice"),
    ({"class_names": ["a", "", "c"], "features": 4}, "names an empty class (class 1)"),
])
def test_a_shape_softreg_never_writes_is_refused(raw, problem):
    assert shape_problem(raw) == problem
    with pytest.raises(CheckpointError) as got:
        ModelShape.from_dict(raw, "'m.safetensors'")
    assert str(got.value) == (f"'m.safetensors': the model shape in its metadata {problem}; "
                              "the file is damaged")


@pytest.mark.parametrize("image", [None, [2, 2], [2, 2, 3]])
def test_the_shapes_softreg_writes_are_read_back(image):
    features = 12 if image == [2, 2, 3] else 4
    shape = ModelShape(("a", "b"), features, None if image is None else tuple(image))
    assert shape_problem(shape.to_dict()) is None
    assert ModelShape.from_dict(shape.to_dict(), "x") == shape


def _tampered(path, **shape):
    """A checkpoint of a model of ``shape`` (ModelShape's fields) as a tampered file holds it:
    written with the checks of the writer left out."""
    model = ModelShape(**shape)
    names = list(model.class_names)
    ck = checkpoint.Checkpoint(np.zeros(model.weights, np.float32),
                               np.zeros(model.classes, np.float32),
                               {"model_shape": model.to_dict(), "class_names": names})
    monkey = pytest.MonkeyPatch()
    with monkey.context() as m:
        m.setattr(checkpoint, "validate_meta", lambda meta, where: None)
        m.setattr(checkpoint, "meta_shape", lambda meta, where: model)
        checkpoint.save(path, ck)
    return path


@pytest.mark.parametrize(("shape", "problem"), [
    ({"class_names": ("a", "b"), "features": 4, "image_shape": (2, 2, 1)},
     "metadata 'model_shape' declares images of 1 channels (2x2x1)"),
    ({"class_names": ("a", "a", "c"), "features": 4},  # the names the file states twice
     "metadata 'class_names' must be a list of 1 to 100000 printable class names, distinct "
     "and none empty, got ['a', 'a', 'c']"),
])
def test_predict_and_export_refuse_a_tampered_shape_in_one_line(tmp_path, capsys, shape,
                                                                problem):
    ck = _tampered(tmp_path / "t.safetensors", **shape)
    image = tmp_path / "x.npy"
    np.save(image, np.zeros(4, np.float32))
    for argv in (("predict", ck, image),
                 ("export", ck, "--format", "torch", "--out", tmp_path / "m.safetensors")):
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2 and problem in err, err
        assert err.strip().endswith("the file was changed after softreg wrote it, or is not "
                                    "softreg's")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_writer_refuses_a_shape_it_could_not_read_back(tmp_path):
    names = ["a", "a"]
    ck = checkpoint.Checkpoint(np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                               {"model_shape": ModelShape(tuple(names), 3).to_dict(),
                                "class_names": names})
    with pytest.raises(CheckpointError, match="a softreg checkpoint cannot hold it, so nothing "
                                              "was written"):
        checkpoint.save(tmp_path / "c.safetensors", ck)
    assert not (tmp_path / "c.safetensors").exists()
