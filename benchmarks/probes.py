"""What a running job looks like from outside: backlog, queues, counts, memory by role."""

from __future__ import annotations

from typing import Any

from benchmarks import procs
from benchmarks.job import AggregenJob


def backlog(job: AggregenJob) -> dict[str, int]:
    """Pending numbers (HLEN of the ledger), waiting messages per queue, numbers counted."""
    with job.redis().pipeline(transaction=False) as pipe:
        pipe.hlen("aggregen:pending")
        pipe.llen("generate")
        pipe.llen("aggregate")
        pipe.hget("aggregen:totals", "counted_count")
        pending, generate, aggregate, counted = pipe.execute()
    return {
        "pending": int(pending),
        "generate_queue": int(generate),
        "aggregate_queue": int(aggregate),
        "counted": int(counted or 0),
    }


def role(pid: int, root: int) -> str:
    """Which part of the topology ``pid`` is, from its command line."""
    line = procs.command_line(pid)
    if pid == root:
        return "coordinator"
    for name in ("redis-server", "generator", "aggregator", "beat"):
        if name in line:
            return name.replace("-server", "")
    return "other"


def memory(job: AggregenJob) -> dict[str, Any]:
    """RSS and PSS in MiB of the whole tree, and RSS by role."""
    by_role: dict[str, float] = {}
    rss_total = pss_total = 0
    pids = job.processes()
    for pid in pids:
        rss, pss = procs.memory_kib(pid)
        rss_total += rss
        pss_total += pss
        name = role(pid, job.pid)
        by_role[name] = by_role.get(name, 0.0) + rss / 1024
    return {
        "processes": len(pids),
        "rss_mib": round(rss_total / 1024, 1),
        "pss_mib": round(pss_total / 1024, 1),
        "rss_by_role_mib": {name: round(mib, 1) for name, mib in sorted(by_role.items())},
    }
