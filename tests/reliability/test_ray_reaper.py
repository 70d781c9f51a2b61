"""The reaper of a local Ray cluster ends every process of the cluster's session folder, with
no Ray: plain processes that hold a file of a folder open, name it, or were started by one that
does, including one that keeps starting others while it is being reaped."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from softreg.sweeps.engines import ray_reaper

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# Holds a file of the folder open and keeps starting children that close every file they have
# and do not name the folder: they are of the session only as its children.
SPAWNER = textwrap.dedent("""
    import os, sys, time
    log = open(os.environ["FOLDER"] + "/worker.log", "w")
    print("up", flush=True)
    while True:
        if os.fork() == 0:
            os.closerange(0, 1 << 16)
            time.sleep(600)
            os._exit(0)
        time.sleep(0.005)
""")


def _in_session(sid):
    """Live (not zombie) pids whose session id is ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _start(args, folder, **kwargs):
    return subprocess.Popen([sys.executable, "-c", *args], env={**os.environ, "FOLDER": folder},
                            start_new_session=True, stdout=subprocess.PIPE, **kwargs)


def _kill_all(sid):
    """Kill every process of session ``sid``, looking again until none is left (one may be
    starting others meanwhile)."""
    while left := _in_session(sid):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_process_that_keeps_starting_others_is_reaped_with_all_its_children(tmp_path):
    folder = tmp_path / "session_1"
    folder.mkdir()
    spawner = _start([SPAWNER], str(folder))
    try:
        assert spawner.stdout.readline() == b"up\n"
        while len(_in_session(spawner.pid)) < 5:  # it has started a few children
            select.select([], [], [], 0.01)
        children = set(_in_session(spawner.pid)) - {spawner.pid}
        assert children <= set(ray_reaper.session_pids(str(folder)))  # found as its children
        reaped = ray_reaper.reap(str(folder))
        spawner.wait(timeout=30)
        assert spawner.pid in reaped and children <= set(reaped)
        assert _in_session(spawner.pid) == []  # none started meanwhile is left
    finally:
        _kill_all(spawner.pid)
        spawner.wait()


def test_a_process_naming_the_folder_is_of_its_session_and_one_naming_a_longer_folder_is_not(
        tmp_path):
    folder = tmp_path / "session_1"
    wait = "import sys, time; print('up', flush=True); time.sleep(600)"
    named = [_start([wait, f"--log-dir={folder}/logs"], str(folder)),
             _start([wait, str(folder)], str(folder))]
    other = _start([wait, f"--log-dir={folder}2/logs", f"{folder}2"], str(folder))
    try:
        for proc in [*named, other]:
            assert proc.stdout.readline() == b"up\n"
        found = ray_reaper.session_pids(str(folder))
        assert {p.pid for p in named} <= set(found) and other.pid not in found
        ray_reaper.reap(str(folder), spare=named[1].pid)
        assert named[0].wait(timeout=30) == -signal.SIGKILL
        assert named[1].poll() is None and other.poll() is None  # spared, and not of it
    finally:
        for proc in [*named, other]:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("name", "keep"), [("softreg-ray-x1", False), ("softreg-ray-x1", True),
                                           ("session_1", False)])
def test_the_reaper_process_reaps_when_its_driver_closes_the_pipe(tmp_path, name, keep):
    # and then removes the folder if it is one of softreg's own (not a folder it was given),
    # unless the driver said to keep it (the logs of an error)
    folder = tmp_path / name
    folder.mkdir()
    worker = _start(["import os, time; f = open(os.environ['FOLDER'] + '/log', 'w');"
                     "print('up', flush=True); time.sleep(600)"], str(folder))
    try:
        assert worker.stdout.readline() == b"up\n"
        reaper, pipe = ray_reaper.start(str(folder))
        assert worker.poll() is None and reaper.poll() is None  # both wait while it is open
        if keep:
            os.write(pipe, ray_reaper.KEEP)
        os.close(pipe)
        assert reaper.wait(timeout=60) == 0
        assert worker.wait(timeout=30) == -signal.SIGKILL
        assert folder.exists() == (keep or name == "session_1")
    finally:
        worker.kill()
        worker.wait()


# A driver that starts the reaper, then forks a child that holds the pipe's end as long as it
# lives (as a process forked without exec does), then waits to be killed.
DRIVER = textwrap.dedent("""
    import os, time
    from softreg.sweeps.engines import ray_reaper
    reaper, pipe = ray_reaper.start(os.environ["FOLDER"])
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    print(reaper.pid, flush=True)
    time.sleep(600)
""")


def test_the_reaper_reaps_when_its_driver_is_killed_though_a_child_still_holds_the_pipe(
        tmp_path):
    folder = tmp_path / "softreg-ray-x1"  # a folder of softreg's: kept, with the logs
    folder.mkdir()
    worker = _start(["import os, time; f = open(os.environ['FOLDER'] + '/log', 'w');"
                     "print('up', flush=True); time.sleep(600)"], str(folder))
    driver = _start([DRIVER], str(folder))
    try:
        assert worker.stdout.readline() == b"up\n"
        reaper = int(driver.stdout.readline())
        assert len(_in_session(driver.pid)) == 2  # the driver and its child with the pipe
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert worker.wait(timeout=60) == -signal.SIGKILL
        fd = os.pidfd_open(reaper)  # the reaper has done its work and ended
        assert select.select([fd], [], [], 60)[0]
        os.close(fd)
        assert (folder / "log").exists()  # a killed driver's cluster folder stays
    finally:
        for proc in (worker, driver):
            proc.kill()
            proc.wait()
        _kill_all(driver.pid)
