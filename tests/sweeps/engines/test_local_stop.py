"""A stop of a parallel sweep's driver reaches its workers: SIGTERM (or SIGINT) sent to the
driver alone stops the workers after their current epoch, drops the units not started, and
the results of the units that ended are kept."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.epochs.history import Status
from softreg.safety.stopsignals import Terminated
from softreg.sweeps import worker as sweep_worker
from softreg.sweeps.search import SearchSpace
from softreg.sweeps.sweep import _load_rows, run_sweep

MARKS = "SOFTREG_TEST_MARKS"  # where a worker says that it trains (inherited when spawned)


def training_work(unit, out):
    """A worker's job for this test: the real one, leaving a mark once its pack has trained
    three epochs (the configurations that diverge have done so in the first)."""
    import softreg.fitting.pack as pack

    real, calls = pack._epoch, []

    def epoch(*args):
        active = real(*args)
        calls.append(1)
        if len(calls) == 3:
            Path(os.environ[MARKS], str(os.getpid())).touch()
        return active

    pack._epoch = epoch
    return sweep_worker.run_unit_in_worker(unit, out)


def _table(path):
    rng = np.random.default_rng(0)
    y = np.arange(600) % 3
    x = rng.normal(size=(600, 4)) + 2.0 * y[:, None]
    path.write_text("f0,f1,f2,f3,label\n" + "".join(
        ",".join(f"{v:.4f}" for v in row) + f",c{k}\n" for row, k in zip(x, y, strict=True)))
    return f"csv:{path}"


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux")
def test_sigterm_to_the_driver_alone_stops_its_workers_and_keeps_what_ended(tmp_path,
                                                                             monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv(MARKS, str(marks))
    monkeypatch.setattr(sweep_worker, "run_unit_in_worker", training_work)
    # two packs of two (--jobs 2), each of a rate that diverges in epoch 1 and one that would
    # train for minutes
    base = TrainConfig(data=_table(tmp_path / "t.csv"), framework="numpy", epochs=30_000,
                       batch_size=1, val_split=0.2, device="cpu")
    space = SearchSpace(base=base, axes={"lr": (0.05, 1e6, 0.1, 1e7)})
    sent = []

    def stop_once_both_train():
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
            threading.Event().wait(0.02)  # the polling interval
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)  # the driver only, as `kill PID` does

    out = tmp_path / "sw"
    threading.Thread(target=stop_once_both_train, daemon=True).start()
    with pytest.raises(Terminated):
        run_sweep(space, out, jobs=2, quiet=True, figures=False)
    assert time.monotonic() - sent[0] < 15  # after the current epoch, not 30,000 of them
    rows = _load_rows(out)
    assert sorted(r["lr"] for r in rows.values()) == [1e6, 1e7]  # ended inside the packs
    assert all(r["status"] == Status.DIVERGED for r in rows.values())
    assert (out / "results.csv").read_text().count("\n") == 3  # the header and the two
    assert sorted(p.stem for p in (out / "weights").iterdir()) == sorted(rows)


def test_a_workers_first_stop_interrupts_its_unit_and_the_next_is_not_started(monkeypatch):
    monkeypatch.setattr(sweep_worker, "_BUSY", True)
    monkeypatch.setattr(sweep_worker, "_STOP", False)
    with pytest.raises(KeyboardInterrupt):  # the unit it trains stops after this epoch
        sweep_worker._stop(signal.SIGINT, None)
    sweep_worker._stop(signal.SIGINT, None)  # Ctrl-C's and the driver's: not twice
    monkeypatch.setattr(sweep_worker, "_BUSY", False)
    sweep_worker._stop(signal.SIGINT, None)  # waiting for work: only remembered
    with pytest.raises(KeyboardInterrupt):  # a unit queued for it is not started
        sweep_worker.run_unit_in_worker([TrainConfig(framework="numpy").to_dict()], "/nowhere")
    assert sweep_worker._BUSY is False
