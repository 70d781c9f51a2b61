"""A long run writes its files at a pace, not after every epoch, and still ends with all of them."""

from __future__ import annotations

import itertools
import json

from softreg.core.config import TrainConfig
from softreg.epochs.history import History
from softreg.jobs import run
from softreg.runfiles import checkpoint
from softreg.safety import fileio


def test_past_a_long_history_the_files_are_written_at_a_pace(tmp_path, monkeypatch):
    # a clock that ticks once a reading: a write takes one tick (its start and its end), a
    # skipped epoch one; so past EVERY_EPOCH_UP_TO a write follows WRITE_SHARE skipped epochs
    ticks = itertools.count()
    monkeypatch.setattr(run, "_clock", lambda: float(next(ticks)))
    monkeypatch.setattr(run, "EVERY_EPOCH_UP_TO", 10)
    written: list[int] = []
    real = fileio.write_together

    def counted(files):
        names = {p.name for p in files}
        if {"history.json", run.CKPT} <= names:  # an epoch's files, not the run's end
            history = next(data for p, data in files.items() if p.name == "history.json")
            written.append(len(History.from_dict(json.loads(history))))
        return real(files)

    monkeypatch.setattr(fileio, "write_together", counted)
    config = TrainConfig(framework="numpy", data="sklearn:iris", epochs=60, batch_size=150)
    result = run.train_run(config, tmp_path / "run", quiet=True, figures=False)
    assert written == [*range(1, 11), 19, 28, 37, 46, 55]
    # the run's end writes every epoch, whatever the pace skipped
    assert len(result.history) == 60
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 61
    assert checkpoint.load(tmp_path / "run" / run.CKPT).meta["epoch"] == 60
