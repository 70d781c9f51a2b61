"""``kill -9`` at random moments of a run and of its resumes: the folder stays consistent, and
the run finished by ``--resume`` equals an uninterrupted one bit for bit (CPU)."""

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from softreg.epochs.history import History
from softreg.runfiles import checkpoint
from softreg.safety import runfolder

pytestmark = pytest.mark.slow

EPOCHS = 5
ARGS = ("--framework", "numpy", "--epochs", str(EPOCHS), "--batch-size", "256", "--offline",
        "--no-figures", "--quiet")


def _softreg(*argv):
    return subprocess.Popen([sys.executable, "-m", "softreg", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _check_consistent(out):
    """What a kill may leave: nothing resumable yet, or a loadable checkpoint whose epochs the
    metrics files hold (each one more at most: a kill between the renames of one epoch's
    files)."""
    if not (out / checkpoint.LAST).exists():
        return 0
    ck = checkpoint.load(out / checkpoint.LAST)
    epoch = ck.meta["epoch"]
    ours = History.from_dict(ck.meta["history"])
    assert len(ours) == epoch
    rows = (out / "metrics.csv").read_text().splitlines()
    recs = History.from_dict(json.loads((out / "history.json").read_text()))
    assert rows[: epoch + 1] == ours.to_csv().splitlines()
    # each metrics file is renamed on its own: a kill between the two renames leaves one of
    # them an epoch ahead of the other; neither is ever behind the checkpoint
    assert len(rows) - 1 in (epoch, epoch + 1) and len(recs) in (epoch, epoch + 1)
    assert recs.to_csv().splitlines()[: epoch + 1] == ours.to_csv().splitlines()  # (NaN-safe)
    config = json.loads((out / "config.json").read_text())
    assert {k: v for k, v in config.items() if k != "epochs"} == {
        k: v for k, v in ck.meta["config"].items() if k != "epochs"}
    return epoch


def _same_run(a, b):
    ca, cb = checkpoint.load(a / checkpoint.LAST), checkpoint.load(b / checkpoint.LAST)
    assert np.array_equal(ca.W, cb.W) and np.array_equal(ca.b, cb.b)
    ha = History.from_dict(ca.meta["history"]).to_dict()["epochs"]
    hb = History.from_dict(cb.meta["history"]).to_dict()["epochs"]
    for ra, rb in zip(ha, hb, strict=True):
        ra.pop("seconds"), rb.pop("seconds")
        assert ra == rb


def test_twenty_kills_then_resume_matches_an_uninterrupted_run(tmp_path, real_data):
    reference = tmp_path / "reference"
    t0 = time.monotonic()
    ref = _softreg("train", *ARGS, "--out", str(reference))
    assert ref.wait(timeout=300) == 0, ref.stderr.read() if ref.stderr else ""
    whole = time.monotonic() - t0  # a whole run, start-up included, on this machine now
    rng = random.Random(20261201)
    out = tmp_path / "run"
    kills = landed = 0
    seen: list[int] = []
    # 20 kills at least; more (up to 40) until three of them found a run mid-way, since where
    # a kill lands depends on how fast this machine runs each process
    while kills < 20 or (sum(0 < s < EPOCHS for s in seen) < 3 and kills < 40):
        done = _check_consistent(out) if out.exists() else 0
        seen.append(done)
        if done == EPOCHS:  # finished before the kill: start it again from scratch
            argv = ("train", *ARGS, "--out", str(out), "--overwrite")
        elif done:
            argv = ("train", "--resume", str(out), "--offline", "--no-figures", "--quiet")
        else:
            argv = ("train", *ARGS, "--out", str(out),
                    *(["--overwrite"] if out.exists() else []))
        proc = _softreg(*argv)
        try:
            proc.wait(timeout=rng.uniform(0.15, 1.0) * whole)  # a random moment to kill it
        except subprocess.TimeoutExpired:
            landed += 1
        proc.kill()
        proc.wait()
        kills += 1
        assert proc.returncode in (0, -9), proc.stderr.read() if proc.stderr else ""
    assert landed >= 5  # kills that hit a running process
    assert sum(0 < s < EPOCHS for s in seen) >= 3  # kills landed mid-run and in resumes
    # Finish it; a run killed after its last epoch still gets its report, and the last
    # killed process's lock is taken over and released.
    if _check_consistent(out) == 0:
        final = _softreg("train", *ARGS, "--out", str(out), "--overwrite")
    else:
        final = _softreg("train", "--resume", str(out), "--offline", "--no-figures", "--quiet")
    assert final.wait(timeout=300) == 0, final.stderr.read() if final.stderr else ""
    assert _check_consistent(out) == EPOCHS
    _same_run(out, reference)
    assert not (out / runfolder.LOCK).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
