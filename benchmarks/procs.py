"""Process trees from /proc: descendants, resident memory, signals, waiting for the end.

``aggregen run`` starts its workers, beat and Redis in sessions of their own, so a tree is
followed by parent pid, not by process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def _parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(") ", 1)[1].split()[1])


def started_at(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot; with the pid, an identity."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(") ", 1)[1].split()[19])


def still_same(identities: dict[int, int | None]) -> list[int]:
    """The pids of ``{pid: start time}`` still running as the same process (not reused)."""
    return [pid for pid, start in identities.items() if alive(pid) and started_at(pid) == start]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(") ", 1)[1][0] != "Z"


def tree(root: int) -> list[int]:
    """``root`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if alive(pid):
            found.append(pid)
        todo += children.get(pid, [])
    return found


def command_line(pid: int) -> str:
    """The command line of ``pid``, blank-separated ('' once it is gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def memory_kib(pid: int) -> tuple[int, int]:
    """Resident set size and proportional set size of ``pid`` in KiB ((0, 0) once gone)."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0, 0
    fields = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            fields[parts[0]] = int(parts[1])
    return fields.get("Rss:", 0), fields.get("Pss:", 0)


def signal_all(pids: list[int], signum: int) -> None:
    """Send ``signum`` to each pid still running."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def wait_gone(pids: list[int], timeout_s: float, poll_s: float = 0.01) -> float | None:
    """Seconds until none of ``pids`` runs, or None when some outlive ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not any(alive(pid) for pid in pids):
            return time.monotonic() - started
        time.sleep(poll_s)
    return None


def kill_tree(pids: list[int]) -> None:
    """SIGKILL whatever of ``pids`` still runs (the last resort of a cleanup)."""
    signal_all([pid for pid in pids if alive(pid)], signal.SIGKILL)
