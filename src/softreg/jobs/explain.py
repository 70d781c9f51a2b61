"""``softreg explain`` on a run folder or checkpoint, and the explain part of a run's report.

Everything is computed with NumPy from the checkpoint's raw-pixel weights, whichever framework
trained it. Files written (atomically): explain.md, templates.png, mistakes.png, confused.png,
reliability.png and calibration.json (the fitted temperature, tied to the weights by their
sha256, read by ``softreg predict --calibrated``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from softreg.core.config import TrainConfig, same_data
from softreg.core.errors import ConfigError
from softreg.core.shape import ModelShape
from softreg.explain.analysis import Explanation, Labelled, analyse
from softreg.explain.calibration import FILE_NAME, FORMAT, model_digest
from softreg.explain.mistakes import examples
from softreg.explain.report import pct, render_sections
from softreg.fitting.splits import DataCheck
from softreg.runfiles import checkpoint
from softreg.runfiles.checkpoint_meta import data_check, data_config, origin
from softreg.safety import fileio, folders, runfolder, writegate
from softreg.safety.textsafe import markdown_table

# Everything explain writes; an --out folder holding anything else is not explain's to write in.
OUTPUT_NAMES = ("explain.md", "templates.png", "mistakes.png", "confused.png",
                "reliability.png", FILE_NAME)
CONFUSED_ROWS = 3  # pairs shown in confused.png, two directions each
EXAMPLES = 6  # images per direction
NO_VAL = ("The run has no validation split (val_split 0); train with --val-split 0.1 to fit a "
          "temperature.")


@dataclass
class ExplainResult:
    """What :func:`explain_run` produced."""

    explanation: Explanation
    model_path: Path
    meta: dict[str, Any]
    out: Path
    files: dict[str, Path]


def explain_run(path: str | Path, out: str | Path | None = None, *, data_dir: str | None = None,
                offline: bool = False, figures: bool = True,
                data: dict[str, Any] | None = None,
                check_data: Callable[[str], None] | None = None) -> ExplainResult:
    """Explain the final model of a run folder (or a checkpoint file) on the test set.

    The validation split is rebuilt from the checkpoint's saved configuration; without one
    (``val_split`` 0, or no saved configuration) no temperature is fitted and the result says
    so. The files go to ``out``: by default the run folder, or ``<stem>-explain/`` next to a
    checkpoint file outside a run folder. The data is the run's own unless ``data`` (data
    settings such as ``{"data": "csv:other.csv"}``) names other data of the model's shape.
    ``check_data(spec)``, when given, sees the spec of the data explained before anything is
    written (the command line refuses a data flag that data would ignore there).

    Raises:
        ConfigError: ``path`` is neither a run folder nor a checkpoint, or the data explained
            in the run folder is not the run's own content (other data, or its own changed
            since: it would replace the run's calibration.json), or ``out`` cannot be
            written or holds files explain did not write, or is the run folder of a checkpoint
            that is not the run's final model (the default for one: it needs ``out``).
        CheckpointError: the checkpoint cannot be read.
        DataError: the Fashion-MNIST files cannot be found or are damaged.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{str(p)!r} does not exist; pass a run folder written by 'softreg "
                          "train --out DIR' or a .safetensors checkpoint")
    if p.is_dir() and not (p / checkpoint.LAST).is_file():
        raise ConfigError(f"{str(p)!r} is not a softreg run folder: it has no "
                          f"{checkpoint.LAST}; pass the --out folder of 'softreg train' or a "
                          ".safetensors checkpoint")
    model_path, ck = checkpoint.load_model(p)
    config, notes = _saved_config(ck.meta)
    # the data: the run's (as its checkpoint records the spec), or the spec a saved estimator
    # records (refused before any folder is made when it records none and no --data is
    # given), or Fashion-MNIST's; checked against the fingerprint recorded with it
    data_cfg = data_config(ck.meta, str(model_path), data or {})
    if check_data is not None:
        check_data(data_cfg.data)
    check = data_check(ck.meta, data or {})
    dest = Path(out) if out is not None else _default_out(p)
    kind = out_kind(dest, model_path)
    prepare_out(dest)
    # Claimed before the data is read: a run folder's training must not be writing there, and
    # another folder becomes an "explain" folder (its marker names the files it may replace).
    where = f"checkpoint {str(model_path)!r}"
    recorded = ck.meta.get("data_fingerprint")
    if kind == "train":  # the content is compared below, with advice for the run folder
        check = replace(check, fingerprint=None)
    with runfolder.held(dest, kind, "add"):  # type: ignore[arg-type]
        shape = ck.shape
        test, val, content = _load_sets(data_cfg, data_dir, offline, shape, where, check)
        if kind == "train":
            own = data_config(ck.meta, str(model_path), {}).data
            # (the run's own calibration.json is its own data's: its file, however named)
            if data and data.get("data") is not None and not same_data(data_cfg.data, own):
                raise ConfigError(
                    f"--data {data_cfg.data} is not the data of the run {str(dest)!r} ({own}): "
                    "explained there, its temperature would replace the run's "
                    "calibration.json, which predict --calibrated reads; pass --out DIR for "
                    "the explanation of other data")
            # its own spec, but the content must be the run's too: data changed since would
            # fit the run's temperature on a "validation split" of other (training) rows
            if isinstance(recorded, str) and content is not None and content != recorded:
                raise ConfigError(
                    f"data {data_cfg.data!r} changed since {where} was made from it: its "
                    f"content's sha256 fingerprint is now {content[:12]}..., where "
                    f"{recorded[:12]}... was recorded (its splits could now hold other "
                    "examples, even training ones); explained in the run folder, its "
                    "temperature would replace the run's calibration.json, which predict "
                    "--calibrated reads: restore that data, or pass --data "
                    f"{data_cfg.data} --out DIR to explain the model on the data as it is now")
        if config is not None and val is None:
            notes.append(NO_VAL)
        expl = analyse(ck.W, ck.b, test, val, list(shape.class_names), notes, shape=shape)
        files = write_figures(expl, dest, shape=shape) if figures else {}
        files["calibration"] = write_calibration(dest, expl, model_path, ck.meta)
        standardized = bool(config is not None and config.standardize)
        page = _page(expl, files, model_path, ck.meta, standardized)
        if shape.image_shape is None:
            page += "\n" + coefficients_section(expl, shape)
        files["explain"] = fileio.write_text(dest / "explain.md", page)
    return ExplainResult(expl, model_path, ck.meta, dest, files)


def _default_out(p: Path) -> Path:
    if p.is_dir():
        return p
    if (p.parent / checkpoint.LAST).is_file():
        # a checkpoint of a run folder: explain next to it, if it is the run's final model
        # (out_kind refuses another: the run's calibration.json is its final model's)
        return p.parent
    return explain_folder(p)


def explain_folder(checkpoint_file: Path) -> Path:
    """Where ``softreg explain FILE`` writes for a checkpoint file outside a run folder (and
    where ``predict --calibrated`` looks for its temperature): ``<stem>-explain`` beside it, or
    beside the folder of softreg's that holds it (a sweep's weights: that folder keeps only
    its own command's files)."""
    found = folders.enclosing(checkpoint_file.parent)
    if found is not None:
        return found[0].parent / f"{found[0].name}-{checkpoint_file.stem}-explain"
    return checkpoint_file.parent / f"{checkpoint_file.stem}-explain"


def out_kind(out: Path, model_path: Path) -> str:
    """``train`` when ``out`` is the run folder whose final model is explained, else
    ``explain``.

    Raises:
        ConfigError: ``out`` is (or lies in) another run's folder or a sweep's
            (:func:`softreg.safety.runfolder.refuse_other_model_folder`), or is the folder of
            the model's run whose final model is another file (the run's calibration.json and
            explain.md belong to its final model: ``predict RUN --calibrated`` reads them).
        CheckpointError: the run folder's final model cannot be read.
    """
    runfolder.refuse_other_model_folder(
        out, model_path, f"explaining {str(model_path)!r} there would write its "
        "calibration.json and explain.md where they pass for that folder's own model's "
        "(predict --calibrated reads them)")
    kind = runfolder.marker_kind(out)
    if kind is None and writegate.describe(out / checkpoint.LAST) == "a regular file":
        kind = "train"  # a run folder from before the marker
    if kind != "train":
        return "explain"
    final, _ = checkpoint.load_model(out)
    if final.resolve() != model_path.resolve():
        raise ConfigError(f"{str(model_path)!r} is not the final model of its run "
                          f"{str(out)!r} ({final.name} is); explaining it there would replace "
                          f"the calibration.json and explain.md of {final.name}: pass --out "
                          "DIR, a new folder (then predict with --calibrated --calibration "
                          "DIR/calibration.json)")
    return "train"


def prepare_out(out: Path) -> None:
    """Check ``out`` can be a folder of explain's files, before any data is read.

    Raises:
        ConfigError: ``out`` is a file, a link, a device or a FIFO, or cannot be created or
            written. (A folder holding files softreg did not write is refused when it is
            claimed: :func:`softreg.safety.runfolder.claim`.)
    """
    writegate.check_folder(out)
    writegate.check_outside(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ConfigError(f"--out {str(out)!r} cannot be written ({exc.strerror or exc}); "
                          "choose a folder you can write to") from exc


def _saved_config(meta: dict[str, Any]) -> tuple[TrainConfig | None, list[str]]:
    raw = meta.get("config")
    if not isinstance(raw, dict):
        return None, ["The checkpoint holds no training configuration, so its validation "
                      "split is unknown."]
    try:
        return TrainConfig.from_dict(raw), []
    except (ConfigError, TypeError) as exc:
        return None, [f"The checkpoint's configuration cannot be read ({exc}), so its "
                      "validation split is unknown."]


def load_sets(config: TrainConfig | None, data_dir: str | None, offline: bool,
              shape: ModelShape | None = None, where: str = "the checkpoint",
              check: DataCheck | None = None) -> tuple[Labelled, Labelled | None]:
    """The test set and, when ``config`` has a validation split, the same validation examples
    as training used, as the raw inputs the saved weights take (pixels in [0, 1]). The data is
    the run's (``config.data``; Fashion-MNIST without a config), refused unless it has the
    model's ``shape`` (and passes ``check``, see :func:`softreg.fitting.splits.model_data`);
    it may hold some of the model's classes only, one even, matched by name, its labels then
    the model's class indices.

    Raises:
        ConfigError: the data has another shape than the model or a class it lacks, or is
            the checkpoint's own data but changed since, or is too small to split.
    """
    test, val, _ = _load_sets(config, data_dir, offline, shape, where, check)
    return test, val


def _load_sets(config: TrainConfig | None, data_dir: str | None, offline: bool,
               shape: ModelShape | None, where: str, check: DataCheck | None,
               ) -> tuple[Labelled, Labelled | None, str | None]:
    """:func:`load_sets`, and the fingerprint of the data's content as read (None: unknown)."""
    from softreg.data.fashion import MODEL_SHAPE
    from softreg.fitting.splits import model_splits

    cfg = config if config is not None else TrainConfig()
    splits = model_splits(shape or MODEL_SHAPE, cfg, data_dir, offline, where, check)
    info = splits["test"].info or {}
    content = info.get("data_fingerprint")
    fingerprint = content if isinstance(content, str) else None
    test = (splits["test"].X, splits["test"].y)
    if config is None or "val" not in splits:
        return test, None, fingerprint
    return test, (splits["val"].X, splits["val"].y), fingerprint


def coefficients_section(expl: Explanation, shape: ModelShape, top: int = 5) -> str:
    """For a table: each class's largest coefficients by feature name, as the change of the
    class's logit for one standard deviation of the feature (measured on the test set)."""
    std = np.asarray(expl.images, dtype=np.float64).std(axis=0)  # (D,)
    effect = np.asarray(expl.W, dtype=np.float64) * std  # (C, D)
    lines = ["## Largest coefficients", "",
             "Per class, the features that move its logit most: the weight times the feature's "
             "standard deviation on the test set (the change of the logit for one standard "
             "deviation; + for, - against the class).", ""]
    rows = []
    for k, name in enumerate(shape.class_names):
        order = np.argsort(-np.abs(effect[k]), kind="stable")[:top]
        rows.append((name, ", ".join(f"{shape.feature_name(int(j))} {effect[k, j]:+.3g}"
                                     for j in order)))
    lines += markdown_table(("class", "features"), rows)  # a name may hold a "|"
    return "\n".join(lines) + "\n"


# The explain figures a training run draws for its report.md (the matplotlib ones cost about
# half a second each on the CPU); `softreg explain` draws all of them.
REPORT_FIGURES = ("mistakes",)


def write_figures(expl: Explanation, out: Path, only: tuple[str, ...] | None = None,
                  shape: ModelShape | None = None) -> dict[str, Path]:
    """templates.png, mistakes.png, confused.png (when there are mistakes), reliability.png;
    with ``only``, just those of them. The image figures only for image data (``shape``:
    the model's, default Fashion-MNIST's)."""
    from softreg.data.fashion import MODEL_SHAPE
    from softreg.plots.explain import plot_reliability, plot_templates
    from softreg.plots.images import image_grid

    image_shape = (shape or MODEL_SHAPE).image_shape

    def wanted(key: str) -> bool:
        if image_shape is None and key != "reliability":
            return False  # weight templates and example images are for images only
        return only is None or key in only

    n, s = expl.names, expl.scored
    files: dict[str, Path] = {}
    if wanted("templates"):
        files["templates"] = plot_templates(expl.W, n, out / "templates.png",
                                            image_shape=image_shape or (28, 28))
    if wanted("mistakes"):
        titles = [f"{n[int(s.true[i])]}\n→ {n[int(s.pred[i])]} {s.p_pred[i]:.2f}"
                  for i in expl.hardest]
        files["mistakes"] = Path(image_grid(as_images(expl.images[expl.hardest], image_shape),
                                            titles,
                                            path=out / "mistakes.png", ncols=6))
    if wanted("confused"):
        _write_confused(expl, out, files, image_shape)
    if wanted("reliability"):
        curves = [("as trained", expl.before)]
        if expl.after is not None and expl.calibration.temperature is not None:
            curves.append((f"T = {expl.calibration.temperature:.3f}", expl.after))
        files["reliability"] = plot_reliability(curves, out / "reliability.png")
    return files


def as_images(X: Any, image_shape: tuple[int, ...] | None) -> Any:
    """Rows of pixels (k, D) as images (k, *image_shape) for the figures."""
    return np.asarray(X).reshape(-1, *(image_shape or (28, 28)))  # (k, H, W[, 3])


def _write_confused(expl: Explanation, out: Path, files: dict[str, Path],
                    image_shape: tuple[int, ...] | None = None) -> None:
    """confused.png: example rows of the most-confused pairs, when there are mistakes."""
    from softreg.plots.explain import plot_example_rows

    n, s = expl.names, expl.scored
    rows = []
    for pair in expl.pairs[:CONFUSED_ROWS]:
        for t, p, count, rate in ((pair.a, pair.b, pair.a_as_b, pair.a_rate),
                                  (pair.b, pair.a, pair.b_as_a, pair.b_rate)):
            idx = examples(s, t, p, EXAMPLES)
            rows.append((f"{n[t]}\n→ {n[p]}\n{count} ({pct(rate)})",
                         as_images(expl.images[idx], image_shape),  # (k, H, W[, 3])
                         [f"p={s.p_pred[i]:.2f}" for i in idx]))
    if rows:
        files["confused"] = plot_example_rows(rows, out / "confused.png",
                                              title="most-confused pairs (true → predicted)")


def write_calibration(out: Path, expl: Explanation, model_path: Path,
                      meta: dict[str, Any]) -> Path:
    """calibration.json: the test NLL/ECE, and the temperature with the weights it fits."""
    cal = expl.calibration
    doc: dict[str, Any] = {
        "format": FORMAT, "format_version": "1", "model_file": model_path.name,
        "model_epoch": meta.get("epoch"), "model_sha256": model_digest(expl.W, expl.b),
        "n_bins": cal.n_bins, "temperature": cal.temperature, "notes": expl.notes,
        "test": {"images": cal.test_size, "nll": cal.test_nll, "ece": cal.test_ece,
                 "nll_calibrated": cal.test_nll_scaled, "ece_calibrated": cal.test_ece_scaled},
        "validation": None if cal.temperature is None else {
            "images": cal.val_size, "nll": cal.val_nll, "nll_calibrated": cal.val_nll_scaled},
    }
    return fileio.write_json(out / FILE_NAME, doc)


def _page(expl: Explanation, files: dict[str, Path], model_path: Path, meta: dict[str, Any],
          standardized: bool) -> str:
    said = origin(meta, device=False)
    head = [f"# softreg explain: {model_path}", "",
            f"{said[0].upper()}{said[1:]}; computed with NumPy on the "
            f"{expl.calibration.test_size} test examples.", ""]
    return "\n".join(head) + render_sections(expl, files, standardized=standardized) + "\n"


def report_sections(out: Path, test: Any, val: Any | None, *, figures: bool,
                    standardized: bool) -> tuple[str, dict[str, Path]]:
    """The explain sections of a new run's report.md, for the final model saved in ``out``.

    ``test`` and ``val`` are the run's :class:`softreg.fitting.splits.Split` objects (possibly
    standardised: their pixels are put back to [0, 1] first). Writes calibration.json and, with
    ``figures``, the explain figures of :data:`REPORT_FIGURES` into ``out`` (the others come
    from ``softreg explain``).
    """
    model_path, ck = checkpoint.load_model(out)
    shape = ck.shape
    expl = analyse(ck.W, ck.b, raw_split(test), None if val is None else raw_split(val),
                   list(shape.class_names), [] if val is not None else [NO_VAL], shape=shape)
    files = write_figures(expl, out, only=REPORT_FIGURES, shape=shape) if figures else {}
    files["calibration"] = write_calibration(out, expl, model_path, ck.meta)
    beside = {k: v for k, v in files.items() if k != "mistakes"}  # next to predictions.png
    later = tuple(k for k in ("confused", "reliability", "templates") if figures and k not in files
                  and (shape.image_shape is not None or k == "reliability"))
    text = render_sections(expl, beside, standardized=standardized, elsewhere=later)
    if shape.image_shape is None:
        text += "\n" + coefficients_section(expl, shape)
    return text, files


def raw_split(split: Any) -> Labelled:
    """A Split's raw inputs (undoing its standardisation): pixels in [0, 1] for images, a
    table's values; and its labels."""
    X = split.X
    if split.standardizer is not None:
        std = split.standardizer
        X = X * std.scale.astype(np.float32) + std.mean.astype(np.float32)  # (N, D)
        shape = getattr(split, "shape", None)
        if shape is None or shape.image_shape is not None:
            np.clip(X, 0.0, 1.0, out=X)  # rounding may leave 1 + 1e-7: still a [0, 1] image
    return X, split.y
