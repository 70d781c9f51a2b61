"""One sweep, run seven ways on this machine, writes the same files byte for byte.

The ways: the local engine with ``--jobs 1`` and ``--jobs 2``, a real local Ray cluster
(2 CPUs, started by this module and stopped at its end, every process it started checked
gone), a run stopped by SIGINT and resumed, one killed with SIGKILL and resumed, ``--pack 3``
and ``--no-pack``. The grid has lr 1, where SGD on raw pixels is chaotic: a last-bit
difference anywhere would show in its numbers within its one epoch.

Compared: results.csv, best.json and every results/<key>.json with the wall-clock seconds
left out (the only field that measures the run, not the model), and every weights file
byte for byte.
"""

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import need

ray = need("ray")
psutil = need("psutil")
need("torch")

from softreg.cli import main  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

SRC = str(Path(__file__).resolve().parents[2] / "src")
ARGS = ["sweep", "--framework", "torch", "--lr", "0.1,1", "--batch-size", "256,512",
        "--seed", "0,1", "--epochs", "1", "--val-split", "0.1", "--offline", "--no-figures",
        "--quiet"]  # 8 configurations; packs of 4 by batch size


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU Ray cluster of this process (Ray needs a short temp folder)."""
    temp = tempfile.mkdtemp(prefix="sr-ray-", dir="/tmp")
    # children from before (an earlier test's) are not this cluster's
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    previous = signal.getsignal(signal.SIGTERM)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp,
             logging_level=logging.WARNING)
    signal.signal(signal.SIGTERM, previous)  # Ray's driver replaces it; pytest's stays
    try:
        yield
    finally:
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        ray.shutdown()
        _, alive = psutil.wait_procs(started, timeout=30)
        # (the resource tracker of the --jobs 2 pool lives as long as this process)
        left = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE
                and "resource_tracker" not in " ".join(p.cmdline())]
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if temp in " ".join(p.info["cmdline"]):
                    left.append(p)
        shutil.rmtree(temp, ignore_errors=True)
        described = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                described.append(f"{p.pid} {' '.join(p.cmdline())[:200]}")
        assert not left, f"processes left running: {described}"


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _contents(folder):
    """Every file a sweep wrote that says something about the models, seconds left out."""
    lines = (folder / "results.csv").read_text().splitlines()
    at = lines[0].split(",").index("seconds")
    table = [",".join(c for i, c in enumerate(line.split(",")) if i != at) for line in lines]
    files = {"results.csv": table}
    for name in ["best.json", *(f"results/{p.name}" for p in (folder / "results").iterdir())]:
        files[name] = _without_seconds(json.loads((folder / name).read_text()))
    for path in (folder / "weights").iterdir():
        files[f"weights/{path.name}"] = path.read_bytes()
    return files


def _interrupted_then_resumed(out, how):
    """Start the sweep in a child process, stop it with ``how`` once a pack has finished,
    then run it again to the end; returns how many configurations the first run finished."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "softreg", *ARGS, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if any((out / "results").glob("*.json")):
                proc.send_signal(how)
                break
            time.sleep(0.02)  # polling a child process's progress, not waiting for a result
        proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == (130 if how == signal.SIGINT else -signal.SIGKILL)
    finished = len(list((out / "results").glob("*.json")))
    assert main([*ARGS, "--out", str(out)]) == 0
    return finished


def test_one_sweep_seven_ways_gives_the_same_files(cluster, tmp_path, real_data):
    runs = {
        "jobs 1": ["--jobs", "1"],
        "jobs 2": ["--jobs", "2"],
        "ray": ["--engine", "ray"],
        "pack 3": ["--pack", "3"],
        "no pack": ["--no-pack"],
    }
    for name, flags in runs.items():
        assert main([*ARGS, *flags, "--out", str(tmp_path / name)]) == 0, name
    for how in (signal.SIGINT, signal.SIGKILL):
        name = f"stopped by {how.name}"
        finished = _interrupted_then_resumed(tmp_path / name, how)
        assert 1 <= finished < 8, (name, finished)  # stopped with some left to train
        runs[name] = []
    reference = _contents(tmp_path / "jobs 1")
    assert len(reference) == 2 + 2 * 8  # table, best.json, 8 results and 8 weights
    best = reference["best.json"]["best"]
    assert best["status"] == "completed" and reference["best.json"]["select"]["seeds"] == 2
    lr1 = [r for name, r in reference.items()
           if name.startswith("results/") and r["row"]["lr"] == 1.0]
    assert len(lr1) == 4 and all(r["row"]["status"] == "completed" for r in lr1)
    for name in runs:
        if name != "jobs 1":
            assert _contents(tmp_path / name) == reference, name
