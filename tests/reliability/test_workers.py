"""No process outlives its sweep, and a lost worker's configurations are tried once more, then
recorded as failed; what finished is always reported."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from softreg.core.config import TrainConfig
from softreg.core.errors import EngineError
from softreg.sweeps.engines.local import LocalEngine
from softreg.sweeps.worker import failed_result

DIES = 0.666  # the learning rate of a configuration whose worker always dies
DIES_ONCE = 0.333  # ... dies on the first try only (a marker file remembers the try)


def work(unit, out):
    """A worker's job for these tests: die (as a killed worker does) or finish at once."""
    lr = unit[0]["lr"]
    if lr == DIES:
        os._exit(9)
    if lr == DIES_ONCE:
        marker = Path(out) / "tried"
        if not marker.exists():
            marker.write_text("1")
            os._exit(9)
    return [{**failed_result(c, "finished"), "ok": True} for c in unit]


def _units(*lrs):
    return [[TrainConfig(lr=lr, framework="numpy").to_dict()] for lr in lrs]


@pytest.mark.parametrize(("lrs", "failed"), [((0.1, DIES, 0.2), {DIES}),
                                             ((DIES_ONCE, 0.1), set())])
def test_a_lost_worker_is_retried_once_then_recorded_failed(tmp_path, lrs, failed):
    engine = LocalEngine(jobs=2)
    engine.work = work
    results = [r for unit in engine.run(_units(*lrs), tmp_path) for r in unit]
    assert sorted(r["config"]["lr"] for r in results) == sorted(lrs)  # every one reported
    lost = {r["config"]["lr"] for r in results if "ok" not in r}
    assert lost == failed
    for r in results:
        if "ok" not in r:
            assert "its worker process died twice" in r["row"]["message"]


def _children(pid):
    """The pids whose parent is ``pid`` (read from /proc: by pid, never by name)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _ended(pid, timeout):
    """Whether process ``pid`` ends within ``timeout`` s (waits on a pidfd, no sleep)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_driver_ends_its_workers(tmp_path, real_data):
    out = tmp_path / "sweep"
    driver = subprocess.Popen(
        [sys.executable, "-m", "softreg", "sweep", "--lr", "0.01,0.02,0.03,0.04",
         "--framework", "numpy", "--epochs", "200", "--no-pack", "--jobs", "2", "--offline",
         "--quiet", "--no-figures", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            assert driver.poll() is None, "the sweep ended before its workers started"
            workers = [p for p in _children(driver.pid)
                       if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]
            select.select([], [], [], 0.05)  # let the driver start them
        assert len(workers) >= 2, "the sweep's two workers never appeared"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert all(_ended(p, 30) for p in workers), "a worker outlived its driver"
    finally:
        if driver.poll() is None:
            driver.kill()


class _FakeRay:
    def __init__(self, gpus):
        self._nodes = [{"Alive": True, "Resources": {"CPU": 4.0, **gpus}},
                       {"Alive": False, "Resources": {"CPU": 4.0, "GPU": 8.0}}]

    def nodes(self):
        return self._nodes


@pytest.mark.parametrize(("gpus", "share"), [({}, 1.0), ({"GPU": 1.0}, 2.0)])
def test_a_ray_gpu_request_no_node_can_take_is_refused_at_once(gpus, share):
    from softreg.sweeps.engines.ray_cluster import check_gpus

    with pytest.raises(EngineError, match="no node of the Ray cluster has"):
        check_gpus(_FakeRay(gpus), share)
    check_gpus(_FakeRay({"GPU": 2.0}), share)  # a node that can: accepted


def test_every_configuration_failing_is_exit_2_not_diverged(tmp_path, fake_fashion, capsys,
                                                            monkeypatch):
    import softreg.sweeps.worker as sw
    from softreg.cli import main

    def no_gpu(*args, **kwargs):
        raise RuntimeError("CUDA is not available")

    monkeypatch.setattr(sw, "fit", no_gpu)
    out = tmp_path / "s"
    code = main(["sweep", "--lr", "0.1,0.2", "--epochs", "1", "--framework", "numpy",
                 "--no-pack", "--quiet", "--no-figures", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert "no configuration could be trained: all 2 failed" in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "results.csv").read_text().count("failed") == 2
    assert (out / "best.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_a_ray_sweep_leaves_no_ray_process(tmp_path, real_data):
    import re

    pytest.importorskip("ray")
    from softreg.sweeps.engines.ray_reaper import session_pids

    # the cluster's folder in one of the test's own (short: Ray's socket paths are under it)
    ray_tmp = Path(tempfile.mkdtemp(prefix="srk-"))
    driver = subprocess.Popen(
        [sys.executable, "-m", "softreg", "sweep", "--engine", "ray", "--jobs", "1", "--lr",
         "0.01,0.02", "--framework", "numpy", "--epochs", "200", "--no-pack", "--offline",
         "--quiet", "--no-figures", "--out", str(tmp_path / "sweep")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_TMPDIR": str(ray_tmp)})
    try:
        session, working = None, []
        deadline = time.monotonic() + 180
        while not working and time.monotonic() < deadline:  # until a task trains
            assert driver.poll() is None, "the sweep ended before its task started"
            for pid in _children(driver.pid):
                text = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                found = re.search(r"(/\S*/session_[^/\s]+)", text)
                session = session or (found.group(1) if found else None)
            if session:
                working = [p for p in session_pids(session)
                           if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"ray::train")]
            select.select([], [], [], 0.2)
        assert working, "no Ray task started"
        left = session_pids(session)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert all(_ended(p, 60) for p in left if p != driver.pid), \
            f"left running: {session_pids(session)}"
        # a killed sweep's cluster folder stays, with its logs (a finished one's goes)
        assert [f.name[:12] for f in ray_tmp.iterdir()] == ["softreg-ray-"]
    finally:
        if driver.poll() is None:
            driver.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _synthetic(split="train", data_dir=None, offline=False):
    rng = np.random.default_rng(11)
    y = (np.arange(300) % 10).astype(np.uint8)
    protos = rng.integers(0, 256, size=(10, 28, 28))
    x = np.clip(protos[y] + rng.integers(-30, 31, size=(300, 28, 28)), 0, 255).astype(np.uint8)
    return (x, y) if split == "train" else (x[:100], y[:100])


def train_or_die(unit, out):
    """A worker's job: train on synthetic data, or die as the OOM killer's victim does."""
    import softreg.data

    if unit[0]["lr"] == DIES:
        os._exit(9)
    softreg.data.load_fashion_mnist = _synthetic
    from softreg.sweeps.worker import run_unit_in_worker

    return run_unit_in_worker(unit, out)


def test_a_sweep_whose_worker_is_killed_still_writes_its_tables(tmp_path, capsys, monkeypatch):
    import softreg.sweeps.worker as sw
    from softreg.cli import main

    monkeypatch.setattr(sw, "run_unit_in_worker", train_or_die)
    monkeypatch.setattr("softreg.sweeps.sweep.usable_jobs", lambda jobs, stream: jobs)
    out = tmp_path / "s"
    code = main(["sweep", "--lr", f"0.05,0.1,{DIES}", "--epochs", "1", "--framework", "numpy",
                 "--batch-size", "64", "--no-pack", "--jobs", "2", "--no-figures",
                 "--out", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "a worker process died; trying its" in text
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 4 and sum("failed" in r for r in rows) == 1
    best = json.loads((out / "best.json").read_text())["best"]
    assert best["lr"] in (0.05, 0.1)
