"""`softreg sweep --engine ray` on a real local Ray cluster (2 CPUs), started by this module and
stopped at its end, with every process it started checked gone.

Results equal the local engine's; a worker killed mid-task is retried; a task that fails fails
its configurations only; Ctrl-C on a driver leaves a resumable folder and no cluster behind.
"""

import contextlib
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import need

ray = need("ray")
psutil = need("psutil")

from softreg.core.config import TrainConfig  # noqa: E402
from softreg.core.errors import EngineError  # noqa: E402
from softreg.runfiles import checkpoint  # noqa: E402
from softreg.safety import stopsignals  # noqa: E402
from softreg.safety.stopsignals import Terminated  # noqa: E402
from softreg.sweeps.engines import ray_cluster, ray_probe, sigterm_kept  # noqa: E402
from softreg.sweeps.engines.ray_engine import RayEngine  # noqa: E402
from softreg.sweeps.search import SearchSpace, configurations  # noqa: E402
from softreg.sweeps.sweep import COLUMNS, run_sweep  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

SRC = str(Path(__file__).resolve().parents[2] / "src")
TASK = "ray::train_unit"  # the process title of a Ray worker running a unit of work


def _space(epochs=2, seeds=(0, 1)):
    base = TrainConfig(val_split=0.1, epochs=epochs, framework="numpy", batch_size=256)
    return SearchSpace(base=base, axes={"lr": (0.03, 0.1, 0.3, 1.0), "seed": seeds})


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           **extra}
    env.pop("RAY_ADDRESS", None)
    return env


def _alive(procs):
    """Those of ``procs`` still running after Ray had 30 s to stop them."""
    _, alive = psutil.wait_procs(procs, timeout=30)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def _described(procs):
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            out.append(f"{p.pid} {' '.join(p.cmdline())[:200]}")
    return out


def _mentioning(text):
    """Running processes whose command line mentions ``text`` (a cluster's temp folder)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if text in " ".join(p.info["cmdline"]):
                found.append(p)
    return found


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU Ray cluster of this process; yields its GCS address. Ray's short socket paths
    need a short temp folder."""
    temp = tempfile.mkdtemp(prefix="sr-ray-", dir="/tmp")
    # children from before (multiprocessing's resource tracker of an earlier test) are not Ray's
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    previous = signal.getsignal(signal.SIGTERM)
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp,
                   logging_level=logging.WARNING)
    signal.signal(signal.SIGTERM, previous)  # Ray's driver replaces it; pytest's stays
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        ray.shutdown()
        left = _alive(started) + _mentioning(temp)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes left running: {_described(left)}"


def _same_rows(a, b):
    assert [r["key"] for r in a] == [r["key"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        for col in COLUMNS:
            if col == "seconds":
                continue
            if isinstance(ra[col], float):
                assert math.isclose(ra[col], rb[col], rel_tol=1e-6, abs_tol=1e-7), col
            else:
                assert ra[col] == rb[col], col


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_ray_sweep_equals_the_local_one_row_for_row(cluster, tmp_path, real_data):
    local = run_sweep(_space(), tmp_path / "local", offline=True, figures=False, quiet=True)
    progress = io.StringIO()
    on_ray = run_sweep(_space(), tmp_path / "ray", offline=True, figures=False,
                       stream=progress, engine="ray")
    assert len(on_ray.rows) == 8
    _same_rows(local.rows, on_ray.rows)
    assert on_ray.best is not None and on_ray.best["key"] == local.best["key"]
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    for row in on_ray.rows:
        mine = checkpoint.load(tmp_path / "ray" / row["weights"])
        theirs = checkpoint.load(tmp_path / "local" / row["weights"])
        np.testing.assert_allclose(mine.W, theirs.W, rtol=1e-6, atol=1e-7)
        assert mine.meta == theirs.meta
    engine = json.loads((tmp_path / "ray" / "sweep.json").read_text())["engine"]
    assert engine["name"] == "ray" and engine["address"] == "this process"
    assert engine["nodes"] == 1 and engine["resources"]["CPU"] == 2
    text = progress.getvalue()
    assert "ray: using this process's cluster: 1 node(s), 2 CPUs, 0 GPUs" in text
    # the 8 configurations share their data: packs, split until each of the 2 CPUs has one
    done = re.findall(r"ray: (\d+)/(\d+) tasks done, (\d+) configurations in ", text)
    assert done and done[-1][0] == done[-1][1] and int(done[-1][1]) >= 2 and done[-1][2] == "8"


def test_a_ray_sweep_on_other_data_equals_the_local_one(cluster, tmp_path):
    """scikit-learn's digits (10 classes, 64 features, standardised) on Ray: the same rows and
    weights as the local engine, checkpoints of the data's shape and spec."""
    need("sklearn")
    base = TrainConfig(data="sklearn:digits", val_split=0.2, epochs=3, framework="numpy",
                       batch_size=32)
    space = SearchSpace(base=base, axes={"lr": (0.01, 0.1), "seed": (0, 1)})
    local = run_sweep(space, tmp_path / "local", figures=False, quiet=True)
    on_ray = run_sweep(space, tmp_path / "ray", figures=False, quiet=True, engine="ray")
    assert len(on_ray.rows) == 4 and {r["status"] for r in on_ray.rows} == {"completed"}
    _same_rows(local.rows, on_ray.rows)
    assert on_ray.best is not None and on_ray.best["val_acc"] > 0.85
    for row in on_ray.rows:
        ck = checkpoint.load(tmp_path / "ray" / row["weights"])
        assert ck.W.shape == (10, 64) and ck.meta["data"] == "sklearn:digits"
        np.testing.assert_allclose(
            ck.W, checkpoint.load(tmp_path / "local" / row["weights"]).W, rtol=1e-6, atol=1e-7)


def _in_thread(work):
    """Run ``work()`` in a thread; returns (thread, outcome list: [result] or [exception])."""
    outcome = []

    def target():
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def _kill_a_running_task(thread):
    """SIGKILL the first Ray worker seen running a unit of work; return its pid."""
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.name() == TASK:
                    proc.kill()
                    return proc.pid
        thread.join(timeout=0.02)  # the polling interval; returns early if the sweep ended
    raise AssertionError("no Ray task was seen running")


def test_a_killed_worker_is_retried_and_the_sweep_completes(cluster, tmp_path, real_data):
    thread, outcome = _in_thread(lambda: run_sweep(
        _space(epochs=3, seeds=(0,)), tmp_path / "sw", offline=True, figures=False,
        quiet=True, engine="ray"))
    _kill_a_running_task(thread)
    thread.join(timeout=300)
    result = outcome[0]
    assert not isinstance(result, BaseException), result
    assert [r["status"] for r in result.rows] == ["completed"] * 4
    assert len(list((tmp_path / "sw" / "results").glob("*.json"))) == 4
    assert len(list((tmp_path / "sw" / "weights").glob("*.safetensors"))) == 4


def test_a_task_that_fails_fails_its_configurations_only(cluster, tmp_path, real_data):
    units = [[c.to_dict()] for c in configurations(_space(epochs=3, seeds=(0,)))]
    engine = RayEngine(offline=True, max_retries=0)

    def sweep():
        with engine:
            return [r for results in engine.run(units, tmp_path) for r in results]

    thread, outcome = _in_thread(sweep)
    _kill_a_running_task(thread)
    thread.join(timeout=300)
    results = outcome[0]
    assert not isinstance(results, BaseException), results
    failed = [r["row"] for r in results if r["row"]["status"] == "failed"]
    assert len(results) == 4 and len(failed) == 1
    assert failed[0]["message"].startswith("the Ray task failed: ")
    assert "WorkerCrashedError: The worker died unexpectedly" in failed[0]["message"]
    assert len(list((tmp_path / "weights").glob("*.safetensors"))) == 3


def test_the_engine_counts_the_cluster_it_uses(cluster):
    engine = RayEngine()
    with engine:
        assert engine.slots == 2 and engine.attached
        assert engine.describe()["address"] == "this process"
    assert ray.is_initialized()  # not this engine's connection to close


def test_the_node_check_runs_on_every_node_and_is_bounded(cluster, monkeypatch):
    here = ray_cluster.check_nodes(ray, ["numpy"])
    assert here["modules"]["softreg"][1] is None and here["modules"]["numpy"][0] == np.__version__
    monkeypatch.setattr(ray_cluster, "NODES_TIMEOUT_S", 0)
    with pytest.raises(EngineError, match=r"the Ray cluster's nodes did not run a tiny import "
                       r"check within 0 s; check `ray status`"):
        ray_cluster.check_nodes(ray, ["numpy"])


def test_sigterm_while_ray_waits_stays_sigterm(cluster):
    """Ray turns whatever a signal handler raised into a plain KeyboardInterrupt; the engine
    gives SIGTERM back its type, so that `softreg sweep` exits with 143."""
    never = ray.remote(num_cpus=0, resources={"no-such-resource": 1})(ray_probe.node_report)
    ref = never.remote([])
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        with pytest.raises(Terminated), stopsignals.sigterm_as_interrupt(), \
                sigterm_kept():
            timer.start()
            ray.wait([ref])
    finally:
        timer.cancel()
        ray.cancel(ref, force=True)


def _wait_for_a_result(proc, results):
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if any(results.glob("*.json")):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)  # the polling interval
            pytest.fail(f"the sweep ended first: {proc.communicate()}")
    pytest.fail("no configuration finished in time")


def test_ctrl_c_on_the_driver_leaves_a_resumable_folder_and_no_cluster(cluster, tmp_path,
                                                                      real_data):
    temp = tempfile.mkdtemp(prefix="sr-ray-", dir="/tmp")  # the driver's own local cluster
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "softreg", "sweep", "--engine", "ray", "--jobs", "2",
           "--lr", "0.03,0.1,0.3,1", "--seed", "0,1", "--epochs", "3", "--framework",
           "numpy", "--offline", "--no-figures", "--out", str(out),
           "--no-pack"]  # eight units of one: most are still outstanding at the first result
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(RAY_TMPDIR=temp))
    try:
        _wait_for_a_result(proc, out / "results")
        started = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    left = _alive(started) + _mentioning(temp)
    shutil.rmtree(temp, ignore_errors=True)
    assert proc.returncode == 130, stderr
    assert "softreg sweep: interrupted" in stderr
    assert not left, f"the driver left Ray processes running: {left}"
    finished = len(list((out / "results").glob("*.json")))
    table = (out / "results.csv").read_text().splitlines()
    assert 1 <= finished < 8 and len(table) == 1 + finished

    # The rest, on the module's cluster this time (--address)
    again = subprocess.run([*cmd, "--address", cluster], capture_output=True, text=True,
                           env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming {out}: {finished} of 8 configurations already finished" in again.stdout
    assert f"ray: connected to {cluster}: 1 node(s), 2 CPUs" in again.stdout
    assert "8 configurations (8 completed" in again.stdout


def _sweep_cli(tmp_path, address):
    cmd = [sys.executable, "-m", "softreg", "sweep", "--engine", "ray", "--address", address,
           "--lr", "0.1", "--epochs", "1", "--framework", "numpy", "--offline", "--quiet",
           "--no-figures", "--out", str(tmp_path / "sw")]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    return proc, time.monotonic() - t0


def test_an_address_where_nothing_answers_is_one_line_exit_2_at_once(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, seconds = _sweep_cli(tmp_path, f"127.0.0.1:{port}")
    assert proc.returncode == 2 and seconds < 30
    assert proc.stderr == (
        f"softreg sweep: error: --address '127.0.0.1:{port}': no Ray cluster answers at "
        f"127.0.0.1:{port} (Connection refused); {ray_cluster.START_HINT}\n")


def test_an_address_that_is_not_a_ray_cluster_is_refused_within_30_s(tmp_path):
    with socket.socket() as server:  # accepts connections and says nothing Ray understands
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    server.accept()[0].close()

        threading.Thread(target=serve, daemon=True).start()
        try:
            proc, seconds = _sweep_cli(tmp_path, f"127.0.0.1:{port}")
        finally:
            stop.set()
    assert proc.returncode == 2 and seconds < 30, proc.stderr
    assert proc.stderr == (  # one line: Ray is not even asked (it retried for 13-30 s)
        f"softreg sweep: error: --address '127.0.0.1:{port}': something accepts connections "
        f"at 127.0.0.1:{port}, but it is not a Ray cluster (it does not speak gRPC); "
        f"{ray_cluster.START_HINT}\n")


def test_a_gpu_sweep_on_a_cluster_without_gpus_is_refused_in_seconds(tmp_path):
    cmd = [sys.executable, "-m", "softreg", "sweep", "--engine", "ray", "--device", "cuda",
           "--lr", "0.1", "--epochs", "1", "--framework", "numpy", "--offline", "--quiet",
           "--no-figures", "--out", str(tmp_path / "sw")]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
        pytest.skip("this machine has a GPU: the sweep trained on it")
    assert proc.returncode == 2 and seconds < 60, proc.stderr
    line = proc.stderr.splitlines()[-1]  # after Ray's own log lines
    assert line.startswith("softreg sweep: error: --device cuda asks 1 GPU per task, and no "
                           "node of the Ray cluster has one")
