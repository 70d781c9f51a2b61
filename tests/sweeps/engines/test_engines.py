"""Engines without a cluster: choosing one, their refusals, the missing-Ray hint, the checks
that run on the driver. (The Ray cluster tests are in test_ray_engine.py.)"""

import contextlib
import io
import logging
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import need
from softreg.cli import main
from softreg.core.config import TrainConfig
from softreg.core.errors import ConfigError, EngineError, FrameworkUnavailableError
from softreg.fitting.splits import Split, data_key
from softreg.sweeps import worker as sweep_worker
from softreg.sweeps.engines import make_engine, ray_cluster
from softreg.sweeps.engines.local import LocalEngine
from softreg.sweeps.engines.ray_engine import RayEngine, _unit_data_key
from softreg.sweeps.search import SearchSpace
from softreg.sweeps.sweep import check_sweep, run_sweep


def _space():
    return SearchSpace(base=TrainConfig(val_split=0.2, epochs=1, framework="numpy"),
                       axes={"lr": (0.1,)})


def test_engine_settings_are_checked_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="engine must be one of local, ray, got 'dask'"):
        check_sweep(_space(), tmp_path / "sw", 1, engine="dask")
    with pytest.raises(ConfigError, match=r"--address 'auto' is for --engine ray \(a Ray "
                       r"cluster\); the local engine runs on this machine: drop --address"):
        check_sweep(_space(), tmp_path / "sw", 1, address="auto")
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("share", [0, -0.5, -2, 1.5, True, "1", float("nan")])
def test_gpu_share_of_a_ray_task_is_a_fraction_or_whole_gpus(share):
    with pytest.raises(ConfigError, match=r"gpus_per_task \(--task-gpus\) must be a fraction "
                       r"in \(0, 1\] or a whole number of GPUs, got"):
        RayEngine(gpus_per_task=share)
    assert RayEngine(gpus_per_task=0.25).gpus_per_task == 0.25
    assert RayEngine(gpus_per_task=2).gpus_per_task == 2.0


def test_a_bad_gpu_share_is_refused_before_the_sweep_starts(tmp_path, capsys):
    code = main(["sweep", "--engine", "ray", "--task-gpus", "1.5", "--lr", "0.1",
                 "--out", str(tmp_path / "sw")])
    out, err = capsys.readouterr()
    assert code == 2 and not out and not (tmp_path / "sw").exists()
    assert err == ("softreg sweep: error: gpus_per_task (--task-gpus) must be a fraction in "
                   "(0, 1] or a whole number of GPUs, got 1.5\n")


def test_make_engine_imports_no_ray_and_local_is_the_default(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray would now fail
    local = make_engine("local", jobs=3)
    assert isinstance(local, LocalEngine) and local.slots == 3
    engine = make_engine("ray", address="ray://head:10001")
    assert engine.describe() == {"name": "ray", "address": "ray://head:10001"}


def test_missing_ray_gives_the_install_hint(monkeypatch, tmp_path, capsys, fake_fashion):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(FrameworkUnavailableError, match=r"Ray is not installed .*; install it "
                       r"with: pip install 'softreg\[ray\]'"):
        run_sweep(_space(), tmp_path / "sw", engine="ray", figures=False, quiet=True)
    code = main(["sweep", "--engine", "ray", "--lr", "0.1", "--epochs", "1", "--framework",
                 "numpy", "--out", str(tmp_path / "cli"), "--quiet", "--no-figures"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.endswith("install it with: pip install 'softreg[ray]'\n")


def test_address_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert ray_cluster.resolve_address(None) == "10.0.0.5:6379"
    assert ray_cluster.resolve_address("auto") == "auto"
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_cluster.resolve_address(None) is None


@pytest.mark.parametrize("address,host_port", [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)), ("head", ("head", 6379)),
    ("ray://head", ("head", 10001)), ("ray://head:2000", ("head", 2000)),
])
def test_addresses_name_a_host_and_port(address, host_port):
    assert ray_cluster.host_port(address) == host_port


@pytest.mark.parametrize("address", ["bad:port:x", "head:0", "http://head:80", ":6379",
                                     "ray://head:99999", "head:6379/x"])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(EngineError, match=r"--address must be auto, HOST:PORT or "
                       rf"ray://HOST:PORT, got '{address}'"):
        ray_cluster.host_port(address)


def test_an_address_where_nothing_listens_is_refused_at_once():
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineError, match=rf"--address '127.0.0.1:{port}': no Ray cluster "
                       rf"answers at 127.0.0.1:{port} \(Connection refused\); start a cluster "
                       r"with `ray start --head`"):
        ray_cluster.check_reachable(f"127.0.0.1:{port}")


def test_a_sweep_refused_by_its_ray_address_leaves_no_folder(monkeypatch, tmp_path, capsys):
    """Without --out the sweep's folder is made before the cluster is asked: a refusal left
    sweeps/<time>/ holding softreg's marker and nothing else. A sweeps/ folder that was
    there before stays; so does the user's empty --out folder, without a marker (it kept
    one)."""
    ray = need("ray")
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["sweep", "--engine", "ray", "--address", f"127.0.0.1:{port}", "--lr", "0.1",
            "--epochs", "1", "--framework", "numpy", "--quiet", "--no-figures"]
    try:
        for before in ([], ["sweeps"]):
            for name in before:
                (tmp_path / name).mkdir()
            code = main(argv)
            err = capsys.readouterr().err
            assert code == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in err, err
            assert sorted(p.name for p in tmp_path.iterdir()) == before
            assert all(not list((tmp_path / name).iterdir()) for name in before)
        (tmp_path / "mine").mkdir()
        code = main([*argv, "--out", "mine"])
        err = capsys.readouterr().err
        assert code == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in err, err
        assert list((tmp_path / "mine").iterdir()) == []
    finally:
        ray.shutdown()  # refused before ray.init: nothing of Ray is running, none left


class _RayWithTokenNotice:
    """A stand-in for Ray whose ``init`` gives Ray's own notice about token authentication (as
    a local cluster's start does) and whose cluster has one node."""

    def init(self, **kw):
        from ray._private.authentication import authentication_token_setup

        authentication_token_setup._warn_token_auth_enabled()

    def is_initialized(self):
        return False

    def cluster_resources(self):
        return {"CPU": 1.0}

    def nodes(self):
        return [{"Alive": True}]

    def shutdown(self):
        pass


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_keeps_rays_token_notice_out(monkeypatch, quiet):
    need("ray")
    from ray._private.authentication import authentication_token_setup

    fake = _RayWithTokenNotice()
    monkeypatch.setattr("softreg.core.optional.require", lambda name: fake)
    monkeypatch.setattr(ray_cluster, "check_reachable", lambda address: None)
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    authentication_token_setup.logger.addHandler(handler)
    try:  # --quiet: a sweep without a progress stream
        with RayEngine(address="10.0.0.5:6379", stream=None if quiet else io.StringIO()):
            pass
    finally:
        authentication_token_setup.logger.removeHandler(handler)
    assert [r.getMessage()[:40] for r in seen] == (
        [] if quiet else ["Token authentication is enabled for this"])


def test_a_node_without_softreg_or_with_other_versions_is_named_with_the_fix():
    here = {"host": "driver", "python": "3.11.7",
            "modules": {"softreg": ["0.1.0", None], "torch": ["2.13.0", None],
                        "mxnet": [None, "ImportError: no mxnet"],
                        "safetensors": ["0.4.5", None]}}
    fix = (r"every node needs the versions this machine has: pip install "
           r"'softreg\[mxnet,torch,ray\]==0.1.0' 'torch==2.13.0' 'safetensors==0.4.5' "
           r"\(Python 3.11.7\), then rerun the sweep")
    there = {"host": "gpu-7", "python": "3.11.7",
             "modules": {**here["modules"], "softreg": [None, "ModuleNotFoundError: softreg"]}}
    with pytest.raises(EngineError, match=r"Ray node gpu-7 cannot import softreg "
                       r"\(ModuleNotFoundError: softreg\); " + fix):
        ray_cluster._compare(there, here, ["torch", "mxnet"])
    there["modules"] = {**here["modules"], "torch": ["2.12.0", None]}
    with pytest.raises(EngineError, match=r"Ray node gpu-7 has torch 2.12.0; " + fix):
        ray_cluster._compare(there, here, ["torch", "mxnet"])
    # mxnet is missing here too: its configurations fail, as on the local engine; no refusal
    ray_cluster._compare({**there, "modules": here["modules"]}, here, ["torch", "mxnet"])


def _split():
    return {"train": Split(np.zeros((2, 784), np.float32), np.zeros(2, np.int64))}


def test_fixed_splits_serve_only_their_own_data_settings():
    config = TrainConfig(val_split=0.1, val_seed=3)
    splits = sweep_worker.FixedSplits(data_key(config), _split())
    assert splits.get(TrainConfig(val_split=0.1, val_seed=3, lr=0.5)) is splits.splits
    with pytest.raises(ConfigError, match=r"the splits were prepared for \(val_split, val_seed, "
                       r"standardize, data, test_split, label_column, image_size, grayscale\) = "
                       r"\(0.1, 3, False, 'fashion-mnist', 0.2, '', '', False\), not \(0.1, 3, "
                       r"True, .*\); send each unit of work the splits of its own data settings"):
        splits.get(TrainConfig(val_split=0.1, val_seed=3, standardize=True))


def test_a_unit_of_work_shares_its_data_settings():
    unit = [TrainConfig(val_split=0.1).to_dict(), TrainConfig(val_split=0.2).to_dict()]
    with pytest.raises(ConfigError, match=r"a unit of work must share its data settings "
                       r"\(val_split, val_seed, standardize, data, test_split, label_column, "
                       r"image_size, grayscale\), got \[\(0.1, 0, False, 'fashion-mnist', .*\), "
                       r"\(0.2, 0, False, .*\)\]; split it by data settings"):
        _unit_data_key(unit)


def test_returned_weights_are_written_only_where_the_local_engine_writes_them(tmp_path):
    config = TrainConfig(val_split=0.1).to_dict()
    good = sweep_worker.failed_result(config, "")
    key = good["row"]["key"]
    good["row"]["weights"] = f"weights/{key}.safetensors"
    good[sweep_worker.WEIGHTS_DATA] = b"bytes"
    kept = RayEngine()._keep_weights(tmp_path, good)
    assert sweep_worker.WEIGHTS_DATA not in kept
    assert (tmp_path / "weights" / f"{key}.safetensors").read_bytes() == b"bytes"
    bad = sweep_worker.failed_result(config, "")
    bad["row"]["weights"] = "../../elsewhere.safetensors"
    bad[sweep_worker.WEIGHTS_DATA] = b"bytes"
    row = RayEngine()._keep_weights(tmp_path, bad)["row"]
    assert row["status"] == "failed" and row["message"] == (
        "the Ray task returned weights for '../../elsewhere.safetensors', expected "
        f"'weights/{key}.safetensors'")
    assert not (tmp_path.parent / "elsewhere.safetensors").exists()


def _listener(reply):
    """A local server that answers every connection with ``reply`` (then closes it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve():
        with contextlib.suppress(OSError):
            while True:
                conn = server.accept()[0]
                with conn:
                    conn.recv(64)
                    conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"",
                                   b"SSH-2.0-OpenSSH_9.6\r\n"])
def test_a_listener_that_is_not_grpc_is_refused_at_once(reply):
    server = _listener(reply)
    port = server.getsockname()[1]
    try:
        with pytest.raises(EngineError, match=r"but it is not a Ray cluster \(it does not speak "
                           r"gRPC\)"):
            ray_cluster.check_reachable(f"127.0.0.1:{port}", timeout=5)
    finally:
        server.close()


def test_a_grpc_server_passes_the_probe():
    server = _listener(b"\x00\x00\x18\x04\x00\x00\x00\x00\x00" + b"\x00" * 24)  # SETTINGS
    try:
        ray_cluster.check_reachable(f"127.0.0.1:{server.getsockname()[1]}", timeout=5)
    finally:
        server.close()


class _RayStoppedDuringInit:
    """A stand-in for Ray whose ``init`` starts an agent in the cluster's folder (a process
    that ``shutdown`` leaves running, as Ray's agents are), then is stopped by Ctrl-C."""

    def __init__(self):
        self.agent = None
        self.temp_dir = None

    def init(self, **kw):
        self.temp_dir = kw["_temp_dir"]
        self.agent = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)",
             f"--session-dir={self.temp_dir}/session_1"], start_new_session=True)
        raise KeyboardInterrupt

    def shutdown(self):
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the reaper reads /proc")
def test_ctrl_c_while_a_local_cluster_starts_leaves_none_of_its_processes(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    fake = _RayStoppedDuringInit()
    try:
        with pytest.raises(KeyboardInterrupt):
            ray_cluster._init(fake, None, 2)
        assert fake.agent.wait(timeout=30) == -signal.SIGKILL  # ended by the reaper
        assert fake.temp_dir.startswith(f"{tmp_path}/softreg-ray-")
        assert not ray_cluster._REAPER
    finally:
        if fake.agent is not None and fake.agent.poll() is None:
            fake.agent.kill()


@pytest.mark.parametrize(("exc", "failed", "keep"), [
    (None, False, False), (None, True, True), (RuntimeError("raylet died"), False, True),
    (EngineError("no GPU node"), False, False), (KeyboardInterrupt(), False, False)])
def test_a_local_cluster_keeps_its_logs_only_after_an_error_or_a_failed_task(
        monkeypatch, exc, failed, keep):
    # its folder (Ray's session files and logs) goes with it after a sweep that went well, was
    # interrupted or was refused by softreg; it stays after another error, or a task that
    # failed for good
    said = []
    monkeypatch.setattr(ray_cluster, "disconnect",
                        lambda ray, pending, keep=False: said.append(keep))
    engine = RayEngine()
    engine.ray, engine.owned, engine.task_failed = object(), True, failed
    engine.__exit__(None if exc is None else type(exc), exc, None)
    assert said == [keep]
