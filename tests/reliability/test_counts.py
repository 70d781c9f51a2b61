"""Every count a user types is bounded before anything of its size is made, and the memory a
pack plans for is what the process may really use (cgroup, ``ulimit -v``) shared by workers."""

from __future__ import annotations

import resource

import pytest
from _cli import refused, run_cli

from softreg.cli import main
from softreg.safety import limits

SWEEP = ("sweep", "--epochs", "1", "--framework", "numpy", "--quiet", "--no-figures")


def _refused(capsys, argv, text):
    code, _, err = run_cli(capsys, *argv)
    refused(code, err, text)


@pytest.mark.parametrize("seeds", ["0-1000000000", "0-500,600-1200", "0-999,5000"])
def test_seeds_are_counted_before_the_list_is_made(tmp_path, capsys, seeds):
    _refused(capsys, ["train", "--seeds", seeds, "--out", tmp_path / "s"],
             "the number of --seeds would be")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv", [
    ("--search", "random", "--trials", "100000000", "--lr", "0.01:1"),
    ("--search", "random", "--trials", "10001", "--lr", "0.01:1"),
])
def test_trials_are_bounded(tmp_path, capsys, argv):
    _refused(capsys, [*SWEEP, *argv, "--out", tmp_path / "s"], "--trials would be")
    assert not (tmp_path / "s").exists()


def test_a_grid_is_counted_before_it_is_built(tmp_path, capsys):
    lrs = ",".join(f"0.{i:04d}" for i in range(1, 202))
    seeds = ",".join(str(i) for i in range(60))
    _refused(capsys, [*SWEEP, "--lr", lrs, "--seed", seeds, "--out", tmp_path / "s"],
             "the grid's size would be 12060")
    _refused(capsys, [*SWEEP, "--search", "random", "--lr", lrs, "--seed", seeds * 1,
                      "--batch-size", ",".join(str(i) for i in range(1, 101)),
                      "--out", tmp_path / "s"], "the combinations to draw from would be")


@pytest.mark.parametrize("seed", ["-1", "-100"])
def test_a_negative_search_seed_is_one_line(tmp_path, capsys, seed):
    _refused(capsys, [*SWEEP, "--lr", "0.1", "--search", "random", "--search-seed", seed,
                      "--out", tmp_path / "s"], "search_seed must be an integer >= 0")


@pytest.mark.parametrize("num", ["20000", "1001"])
def test_lr_find_num_is_bounded(tmp_path, capsys, num):
    _refused(capsys, ["lr-find", "--num", num, "--out", tmp_path / "f.png"],
             f"--num would be {num}, more than the 1000")


@pytest.mark.parametrize("argv", [("--pack-memory", "1"), ("--engine", "ray", "--address",
                                                           "ray://a/b:1")])
def test_sweep_refusals_come_before_the_folder_is_made(tmp_path, capsys, argv):
    out = tmp_path / "s"
    code = main([*SWEEP, "--lr", "0.1", *argv, "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_memory_limit_follows_ulimit_v():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    target = 3 * 2**30
    if hard != resource.RLIM_INFINITY and hard < target:
        pytest.skip("the hard limit is already lower")
    resource.setrlimit(resource.RLIMIT_AS, (target, hard))
    try:
        assert limits.memory_limit() <= target
        assert limits.share(3) <= target // 4 // 3
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize(("text", "expected"), [("max\n", None), ("536870912\n", 536870912),
                                                (str(2**63 - 4096), None), ("junk", None)])
def test_cgroup_limits_are_read(tmp_path, text, expected):
    path = tmp_path / "memory.max"
    path.write_text(text)
    assert limits._cgroup_limit((str(path),)) == expected


def test_a_pack_shares_memory_among_workers(monkeypatch):
    monkeypatch.setattr(limits, "memory_limit", lambda: 4 * 2**30)
    assert limits.share(1) == 2**30
    assert limits.share(4) == 2**28
    from softreg.fitting.pack_plan import default_pack_memory

    assert default_pack_memory(2) == 2**29
