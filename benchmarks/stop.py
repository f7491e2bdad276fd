"""Stop: from SIGINT to every process gone, with an empty backlog and with a full one.

The full backlog is built by pausing the aggregator worker (SIGSTOP on it and its pool)
while the generators go on, then resuming it just before the SIGINT. The drain rate is the
numbers counted per second between the SIGINT and the ledger being empty.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from benchmarks import probes, procs
from benchmarks.job import AggregenJob
from benchmarks.result import Result

DRAIN_BOUND_S = 120.0
GONE_BOUND_S = 120.0


def _aggregator_pids(job: AggregenJob) -> list[int]:
    return [pid for pid in job.processes() if probes.role(pid, job.pid) == "aggregator"]


def _wait_drained(job: AggregenJob) -> tuple[float | None, int]:
    """Seconds until the ledger is empty after the SIGINT, and the count reached then."""
    started_s = time.monotonic()
    counted = 0
    while time.monotonic() - started_s < DRAIN_BOUND_S:
        try:
            state = probes.backlog(job)
        except OSError:
            return None, counted
        counted = state["counted"]
        if state["pending"] == 0:
            return time.monotonic() - started_s, counted
        time.sleep(0.02)
    return None, counted


def scenario(generators: int, run_for_s: float, pause_s: float) -> dict[str, Any]:
    """Run, optionally pause the aggregators for ``pause_s``, then SIGINT and time the end."""
    args = ["--generators", str(generators), "--duration", "10m", "--window", "5s"]
    with AggregenJob(*args, "--redeliver-after", "5m") as job:
        job.started()
        time.sleep(run_for_s)
        if pause_s:
            paused = _aggregator_pids(job)
            procs.signal_all(paused, signal.SIGSTOP)
            time.sleep(pause_s)
            procs.signal_all(paused, signal.SIGCONT)
        before = probes.backlog(job)
        pids = job.processes()
        sigint_s = time.monotonic()
        job.process.send_signal(signal.SIGINT)  # type: ignore[union-attr]
        drain_s, counted = _wait_drained(job)
        code = job.wait(GONE_BOUND_S)
        exit_s = time.monotonic() - sigint_s
        gone = procs.wait_gone(pids, GONE_BOUND_S)
        gone_s = None if gone is None else time.monotonic() - sigint_s
        report = job.report()
    drained = counted - before["counted"]
    return {
        "generators": generators,
        "paused_s": pause_s,
        "backlog_at_sigint": before,
        "processes": len(pids),
        "exit_code": code,
        "exit_s": round(exit_s, 2),
        "all_gone_s": None if gone_s is None else round(gone_s, 2),
        "drain_s": None if drain_s is None else round(drain_s, 2),
        "drain_per_s": round(drained / drain_s) if drain_s else None,
        "balanced": report.get("balanced"),
        "counted": (report.get("counted") or {}).get("count"),
    }


def run(*, quick: bool) -> Result:
    """The empty-backlog stop, then the full-backlog one."""
    if quick:
        cases = {"full": scenario(200, run_for_s=0.5, pause_s=1.0)}
    else:
        cases = {
            "empty": scenario(1000, run_for_s=5.0, pause_s=0.0),
            "full": scenario(10_000, run_for_s=3.0, pause_s=10.0),
        }
    result = Result("stop", data=cases)
    for name, case in cases.items():
        backlog = case["backlog_at_sigint"]
        result.add(
            f"SIGINT -> all gone, {name} backlog",
            f"{case['all_gone_s']} s (aggregen exit {case['exit_s']} s, code {case['exit_code']})",
            f"{backlog['pending']} pending, {case['processes']} processes",
            "exit 0, balanced",
            met=case["exit_code"] == 0 and bool(case["balanced"]),
        )
        if case["paused_s"]:
            result.add(
                f"drain after SIGINT, {name} backlog",
                f"{case['drain_s']} s, {case['drain_per_s']} numbers/s",
            )
    return result
