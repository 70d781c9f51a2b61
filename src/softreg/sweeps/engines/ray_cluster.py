"""The Ray cluster of a sweep: find it, check that it answers, connect, check its nodes, leave.

``ray.init`` retries a dead address for minutes. So an address is first resolved to a host and
port (``auto``: the cluster ``ray start`` last recorded on this machine) and probed with a
plain TCP connection with a short timeout; only an address that answers is handed to Ray, with
Ray's own connection timeouts shortened (:data:`CONNECT_ENV`, unless already set) for the case
where something other than a Ray cluster answers there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from softreg.core.errors import EngineError
from softreg.sweeps.engines import ray_reaper

PROBE_TIMEOUT_S = 5.0  # per connection attempt to the cluster's address
NODES_TIMEOUT_S = 120.0  # for every node to run its import check (a worker starts on each)
# Ray's timeouts while the driver connects (read from the environment): one attempt of about
# 12 s in all, instead of 20 attempts of 35 s, against a port where no Ray cluster answers. A
# live cluster's GCS answers in milliseconds.
CONNECT_ENV = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "5",
               "RAY_gcs_rpc_server_connect_timeout_s": "3"}
_DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray client server, GCS of `ray start --head`
# The logger of Ray's notice that a cluster it starts (or finds) has token authentication on
# (or off): about Ray's defaults, not the sweep, and given by every local sweep. --quiet keeps
# it out; Ray's other warnings still show.
TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
START_HINT = ("start a cluster with `ray start --head` on its head node and `ray start "
              "--address HEAD:6379` on the others, or leave out --address to run the sweep "
              "on a local cluster started for it")


def resolve_address(address: str | None) -> str | None:
    """``address``, else the ``RAY_ADDRESS`` environment variable, else None (start one)."""
    if address:
        return address
    return os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Refuse, at once, an address where nothing answers.

    Raises:
        EngineError: no cluster recorded for ``auto``, a malformed address, or nothing
            accepting connections at its host and port within ``timeout`` seconds.
    """
    host, port = host_port(address)
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise EngineError(f"--address {address!r}: no Ray cluster answers at {host}:{port} "
                          f"({reason}); {START_HINT}") from None
    with conn:
        try:
            grpc = speaks_http2(conn)
        except OSError:  # reset or silent: what accepted the connection is not gRPC
            grpc = False
    if not grpc:  # Ray would retry such a listener for half a minute
        raise EngineError(f"--address {address!r}: something accepts connections at "
                          f"{host}:{port}, but it is not a Ray cluster (it does not speak "
                          f"gRPC); {START_HINT}")


# An HTTP/2 client's first bytes (RFC 9113 3.4) and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x04


def speaks_http2(conn: socket.socket) -> bool:
    """Whether the server on ``conn`` answers an HTTP/2 preface with a SETTINGS frame, as
    every gRPC server (Ray's GCS, Ray Client's server) does at once.

    Raises:
        OSError: the connection fails or times out (its timeout applies).
    """
    conn.sendall(_H2_PREFACE)
    head = b""
    while len(head) < 9:  # a frame header: length (3), type (1), flags (1), stream (4)
        chunk = conn.recv(9 - len(head))
        if not chunk:
            return False
        head += chunk
    return head[3] == _SETTINGS


def host_port(address: str) -> tuple[str, int]:
    """The host and port that ``address`` names (``auto``: looked up as Ray does).

    Raises:
        EngineError: ``auto`` with no cluster recorded, or not ``[ray://]host[:port]``.
    """
    if address == "auto":
        address = _auto_address()
    scheme, _, rest = address.rpartition("://")
    host, _, port_text = rest.partition(":")
    port = _DEFAULT_PORTS.get(scheme) if not port_text else None
    if port is None and port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    if scheme not in _DEFAULT_PORTS or not host or "/" in rest or port is None:
        raise EngineError(f"--address must be auto, HOST:PORT or ray://HOST:PORT, got "
                          f"{address!r}")
    return host, port


def _auto_address() -> str:
    from ray._private import services  # where `ray.init(address="auto")` looks

    try:
        found: str = services.canonicalize_bootstrap_address_or_die("auto")
    except ConnectionError as exc:
        raise EngineError(f"--address 'auto': no running Ray cluster found on this machine "
                          f"({exc}); {START_HINT}") from None
    return found


def connect(address: str | None, cpus: int, quiet: bool = False) -> tuple[Any, bool]:
    """Import Ray; connect to the cluster at ``address``, or start a local one of ``cpus`` CPUs.
    ``quiet``: without Ray's notice about token authentication (:data:`TOKEN_LOGGER`).

    Ray's driver replaces the SIGTERM handler; the caller's is put back (softreg turns SIGTERM
    into a clean stop, see :mod:`softreg.safety.stopsignals`).

    Returns:
        The ``ray`` module, and True if this call started or connected (and
        :func:`disconnect` must undo it); False when this process was already connected (a
        notebook), which is then used as it is.

    Raises:
        FrameworkUnavailableError: Ray is not installed (the message says how to install it).
        EngineError: see :func:`check_reachable`; or what answers at ``address`` is not a
            Ray cluster (Ray's ``ConnectionError``).
    """
    from softreg.core.optional import require

    # Ray reads its timeouts when it is imported and initialised; a local cluster's processes
    # inherit the environment, so only a connection gets the short ones.
    with _environ(CONNECT_ENV) if address is not None else contextlib.nullcontext():
        ray = require("ray")
        if address is None and ray.is_initialized():
            return ray, False
        if address is not None:
            check_reachable(address)
        return ray, _init(ray, address, cpus, quiet)


def _init(ray: Any, address: str | None, cpus: int, quiet: bool = False) -> bool:
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with _logger_level(TOKEN_LOGGER, logging.ERROR) if quiet else contextlib.nullcontext():
            if address is None:  # "local": a new cluster even if `ray start` left one running
                # in a folder of its own, watched by the reaper before its first process starts
                ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                         logging_level=logging.WARNING, _temp_dir=_start_reaper())
            else:
                ray.init(address=address, logging_level=logging.WARNING)
    except BaseException as exc:
        ray.shutdown()  # whatever part of a cluster had started...
        # ...and a local one's agents, which ray.shutdown leaves running; its folder stays,
        # with the logs of why it did not start (not after Ctrl-C or SIGTERM)
        _stop_reaper(keep=isinstance(exc, Exception))
        if isinstance(exc, ConnectionError) and address is not None:
            raise EngineError(f"--address {address!r}: it accepts connections, but no Ray "
                              f"cluster answered there ({exc}); {START_HINT}") from None
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    return True


@contextlib.contextmanager
def _logger_level(name: str, level: int) -> Iterator[None]:
    """Within the block, the logger ``name`` passes only records of ``level`` and above."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set the environment variables of ``values`` that are not set yet, then remove them."""
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def cancel(ray: Any, pending: Sequence[Any]) -> None:
    """Cancel ``pending`` tasks (their workers are killed: the tasks are not retried)."""
    for ref in pending:
        with contextlib.suppress(Exception):  # finished meanwhile, or its node is gone
            ray.cancel(ref, force=True)


def disconnect(ray: Any, pending: Sequence[Any], keep: bool = False) -> None:
    """Cancel ``pending`` tasks, then leave the cluster (a local one is stopped, and its
    folder removed unless ``keep``: the logs of a sweep that went wrong)."""
    cancel(ray, pending)
    ray.shutdown()
    _stop_reaper(keep)


# The reaper of the local cluster this process started, and the pipe end that keeps it waiting.
_REAPER: list[tuple[Any, int]] = []


def _start_reaper() -> str:
    """Make the folder a local cluster is about to run in (Ray's temporary folder: its
    session folder, logs and sockets) and start :mod:`~softreg.sweeps.engines.ray_reaper` on
    it, before the cluster's first process: its agents and workers end with this process
    however it ends, ``kill -9`` or Ctrl-C during ``ray.init`` included. Return the folder.

    It is a new folder where Ray would make its own (``RAY_TMPDIR``, else ``TMPDIR`` on Linux,
    else ``/tmp``), short enough for the socket paths under it, and this cluster's alone: the
    reaper ends the processes that use it, and no other cluster's.
    """
    linux_tmp = os.environ.get("TMPDIR") if sys.platform.startswith("linux") else None
    where = os.environ.get("RAY_TMPDIR") or linux_tmp or "/tmp"
    # absolute and with no link in it: the reaper matches it against the paths /proc shows,
    # which are resolved (a relative TMPDIR gives a relative folder on Python < 3.12, a linked
    # one the link's path: the cluster's agents outlived a killed driver)
    folder = os.path.realpath(tempfile.mkdtemp(prefix=ray_reaper.FOLDER_PREFIX, dir=where))
    started = ray_reaper.start(folder)
    if started is not None:
        _REAPER.append(started)
    return folder


def _stop_reaper(keep: bool = False) -> None:
    """Close the reaper's pipe (after ``ray.shutdown``): it cleans up whatever is left, and
    removes the cluster's folder unless ``keep`` (said down the pipe first)."""
    while _REAPER:
        proc, pipe = _REAPER.pop()
        if keep:
            with contextlib.suppress(OSError):
                os.write(pipe, ray_reaper.KEEP)
        os.close(pipe)
        with contextlib.suppress(Exception):
            proc.wait(timeout=30)


def describe(ray: Any) -> dict[str, Any]:
    """The cluster's nodes and resources (CPU, GPU, memory, ...), as Ray counts them."""
    resources = {k: v for k, v in ray.cluster_resources().items() if not k.startswith("node:")}
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return {"nodes": nodes, "resources": resources}


def check_gpus(ray: Any, gpus_per_task: float) -> None:
    """Refuse at once GPU tasks that no live node can take (Ray would wait for ever for a GPU
    node: "No available node types can fulfill resource request").

    Raises:
        EngineError: every live node has fewer GPUs than one task asks for.
    """
    most = max((float(node.get("Resources", {}).get("GPU", 0)) for node in ray.nodes()
                if node.get("Alive")), default=0.0)
    if most < gpus_per_task:
        raise EngineError(f"--device cuda asks {gpus_per_task:g} GPU per task, and no node of "
                          f"the Ray cluster has {'one' if most == 0 else 'that many'} (the "
                          f"most on a node: {most:g}); use --device cpu, lower --task-gpus, "
                          "or add a GPU node")


def check_nodes(ray: Any, frameworks: Sequence[str]) -> dict[str, Any]:
    """Run the import check on every live node; refuse a node that lacks what a task needs.

    A task needs softreg, the frameworks of its configurations and safetensors (it encodes
    the weights it sends back).

    Returns:
        This machine's report (see :func:`softreg.sweeps.engines.ray_probe.node_report`).

    Raises:
        EngineError: a node cannot import softreg or a framework that this machine can, has
            other versions of them, or does not answer within :data:`NODES_TIMEOUT_S`. (A
            framework missing here too fails its configurations, as on the local engine.)
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from softreg.sweeps.engines import ray_probe

    modules = ["softreg", *sorted(set(frameworks)), "safetensors"]
    ray.cloudpickle.register_pickle_by_value(ray_probe)  # runs where softreg is missing
    here = ray_probe.node_report(modules)
    probe = ray.remote(ray_probe.node_report)
    refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote(modules)
        for node in ray.nodes() if node.get("Alive")]
    t0 = time.perf_counter()
    try:
        reports = ray.get(refs, timeout=NODES_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise EngineError(f"the Ray cluster's nodes did not run a tiny import check within "
                          f"{time.perf_counter() - t0:.0f} s; check `ray status` (are the "
                          "nodes up, with free CPUs?)") from None
    for report in reports:
        _compare(report, here, frameworks)
    return here


def _compare(there: dict[str, Any], here: dict[str, Any], frameworks: Sequence[str]) -> None:
    for name, (version, error) in there["modules"].items():
        mine, my_error = here["modules"][name]
        if my_error is None and (error is not None or version != mine):
            found = f"cannot import {name} ({error})" if error else f"has {name} {version}"
            raise EngineError(
                f"Ray node {there['host']} {found}; every node needs the versions this "
                f"machine has: {install_line(here, frameworks)} (Python {here['python']}), "
                "then rerun the sweep")


def install_line(here: dict[str, Any], frameworks: Sequence[str]) -> str:
    """The pip command that installs this machine's softreg and frameworks on a node."""
    extras = ",".join([*sorted(set(frameworks)), "ray"])
    pins = []
    for name, (version, error) in here["modules"].items():
        if error is not None:
            continue
        dist = f"softreg[{extras}]" if name == "softreg" else name
        pins.append(f"'{dist}=={version}'" if version else f"'{dist}'")
    return "pip install " + " ".join(pins)
