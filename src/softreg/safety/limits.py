"""Bounds on the counts a user types, and the memory this process may really use.

A count from the command line (seeds, trials, grid size, learning rates) is checked against its
bound here *before* anything of that size is built. The memory a pack may hold starts from the
smallest of: the machine's memory, the cgroup's limit (v2 ``memory.max`` or v1
``memory.limit_in_bytes``, the container's), and ``RLIMIT_AS`` (``ulimit -v``); it is then
shared among the workers that run at once.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

from softreg.core.errors import ConfigError

MAX_CONFIGS = 10_000  # configurations of one sweep (grid size, random trials)
MAX_SEEDS = 1_000  # seeds of one train --seeds
MAX_RATES = 1_000  # learning rates of one lr-find
_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def check_count(count: int, bound: int, what: str, hint: str) -> None:
    """Refuse ``count`` above ``bound``, before anything of that size is made.

    Raises:
        ConfigError: ``"<what> would be N, more than the B softreg allows; <hint>"``.
    """
    if count > bound:
        raise ConfigError(f"{what} would be {count}, more than the {bound} softreg allows; "
                          f"{hint}")


def _cgroup_limit(files: tuple[str, ...] = _CGROUP_FILES) -> int | None:
    """The container's memory limit in bytes, or None when there is none (or none readable)."""
    for name in files:
        try:
            text = Path(name).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 writes ~2**63 for "no limit"
            return int(text)
    return None


def memory_limit() -> int:
    """The most memory this process may use: the smallest of the machine's memory, the
    cgroup limit and ``RLIMIT_AS``, in bytes (4 GiB when none can be read)."""
    candidates = []
    with contextlib.suppress(ValueError, OSError, AttributeError):
        candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    cgroup = _cgroup_limit()
    if cgroup is not None:
        candidates.append(cgroup)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft > 0:
        candidates.append(soft)
    return min(candidates) if candidates else 4 * 2**30


def share(workers: int) -> int:
    """The default memory budget of one pack when ``workers`` run at once: a quarter of
    :func:`memory_limit` (at most 8 GiB), divided among them."""
    return int(min(memory_limit() // 4, 8 * 2**30) // max(1, workers))
