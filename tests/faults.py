"""Fault injection around a live run, and the record of what each fault cost.

Each fault test appends a row to ``build/reliability.json`` (and a Markdown table beside it);
``docs/reliability.md`` shows the table of a full run of the suite.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from tasks.context import Context
from tasks.settings import Settings
from tests.support import REPO, LiveJob, RedisServer, expected_sum, load_report, start_aggregen

RESULTS = REPO / "build" / "reliability.json"
FAST = ("--interval", "50ms", "--window", "500ms", "--redeliver-after", "2s")


@dataclass
class FaultRow:
    """What one injected fault cost, measured against the numbers that must exist."""

    fault: str
    injection: str
    generated: int
    counted: int
    lost: int
    counted_twice: int
    duplicates_dropped: int
    recovery_s: float | None


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


class FaultyRun:
    """``aggregen run`` on a test Redis, watched through the ledger while faults strike."""

    def __init__(
        self, tmp_path: Path, redis_server: RedisServer, key_prefix: str, *args: str
    ) -> None:
        self.report_path = tmp_path / "report.json"
        self.ctx = Context.build(Settings(redis_url=redis_server.url, key_prefix=key_prefix))
        connection = ("--redis-url", redis_server.url, "--key-prefix", key_prefix)
        report = ("--report", str(self.report_path))
        self.job = LiveJob(start_aggregen("run", *connection, *FAST, *report, *args))
        self.job.wait_for_line("started:")

    def worker(self, name: str) -> int:
        """Pid of the main process of worker ``name`` (``aggregator1``), started by the run."""
        for pid in children_of(self.job.process.pid):
            argv = cmdline(pid)
            if "--hostname" in argv and argv[argv.index("--hostname") + 1].startswith(name + "@"):
                return pid
        raise AssertionError(f"no worker {name} is running")

    def pool(self, name: str) -> list[int]:
        """Pids of the pool processes of worker ``name``."""
        return children_of(self.worker(name))

    def kill_worker(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Signal a whole worker: its main process and its pool."""
        os.killpg(self.worker(name), signum)

    def counted(self) -> int:
        return int(self.ctx.client.hget(self.ctx.keys.totals, "counted_count") or 0)

    def wait_counting(self, more_than: int = 0, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.counted() <= more_than:
            assert time.monotonic() < deadline, "counting never resumed"
            time.sleep(0.05)

    def generated(self) -> int:
        return int(self.ctx.client.hget(self.ctx.keys.totals, "generated_count") or 0)

    def wait_generation_resumed(self, fault_at: float, timeout_s: float = 30) -> float:
        """Seconds from ``fault_at`` until numbers are generated again."""
        before = self.generated()
        deadline = time.monotonic() + timeout_s
        while self.generated() == before:
            assert time.monotonic() < deadline, "generation never resumed"
            time.sleep(0.01)
        return time.time() - fault_at

    def wait_recovered(self, fault_at: float) -> float:
        """Seconds from ``fault_at`` until every number generated before it was counted."""
        return wait_recovered(self.ctx, fault_at)

    def finish(self, timeout_s: float = 90) -> dict[str, Any]:
        code, stdout, stderr = self.job.finish(timeout_s=timeout_s)
        assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
        self.stderr = stderr
        return load_report(self.report_path)


def wait_recovered(ctx: Context, fault_at: float, timeout_s: float = 60) -> float:
    """Seconds from ``fault_at`` until every number generated before it was counted."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            entries = ctx.client.hvals(ctx.keys.pending)
        except (OSError, redis.RedisError):
            time.sleep(0.05)
            continue
        if not any(float(str(entry).split(",")[1]) < fault_at for entry in entries):
            return time.time() - fault_at
        time.sleep(0.05)
    raise AssertionError("numbers generated before the fault were never counted")


def row(
    fault: str, injection: str, report: dict[str, Any], generators: int, recovery_s: float | None
) -> FaultRow:
    """Compare a report with the numbers the run had to produce, identity by identity."""
    ticks = report["settings"]["ticks"]
    must_exist = generators * ticks
    printed = sum(w["count"] for w in report["windows"])
    assert report["generated"]["count"] == must_exist
    assert report["generated"]["sum"] == expected_sum(report["run"], generators, ticks)
    return FaultRow(
        fault=fault,
        injection=injection,
        generated=must_exist,
        counted=printed,
        lost=max(0, must_exist - printed),
        counted_twice=max(0, printed - must_exist),
        duplicates_dropped=report["duplicates_dropped"],
        recovery_s=None if recovery_s is None else round(recovery_s, 2),
    )


def save(rows: list[FaultRow]) -> None:
    """Merge ``rows`` into the results file and rewrite the Markdown table beside it."""
    RESULTS.parent.mkdir(exist_ok=True)
    known: dict[str, dict[str, Any]] = {}
    if RESULTS.exists():
        known = {r["fault"]: r for r in json.loads(RESULTS.read_text())}
    known.update({r.fault: asdict(r) for r in rows})
    RESULTS.write_text(json.dumps(list(known.values()), indent=2) + "\n")
    lines = [
        "| fault | how it was injected | generated | counted | lost | counted twice "
        "| duplicates dropped | time to recover |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in known.values():
        recovery = "-" if r["recovery_s"] is None else f"{r['recovery_s']:.2f} s"
        lines.append(
            f"| {r['fault']} | {r['injection']} | {r['generated']} | {r['counted']} "
            f"| {r['lost']} | {r['counted_twice']} | {r['duplicates_dropped']} | {recovery} |"
        )
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
