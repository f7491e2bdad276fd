"""Pools: prefork, threads, gevent and solo for both generators and aggregators.

The same load for each pool: many generators at 1 Hz, each worker with a pool of four
(solo has one by definition). Reports what was counted per second, latency, tick lateness,
backlog and memory: the workers' own RSS and the whole tree's.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from benchmarks import capacity
from benchmarks.result import Result

POOLS = ("prefork", "threads", "gevent", "solo")
CONCURRENCY = 4


def _available(pool: str) -> bool:
    return pool not in ("gevent", "eventlet") or importlib.util.find_spec(pool) is not None


def measure(pool: str, generators: int, duration_s: float, window_s: float) -> dict[str, Any]:
    """One run under ``pool``, with a pool of four on each side."""
    extra = [
        "--pool", pool,
        "--generate-concurrency", str(CONCURRENCY),
        "--aggregate-concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    outcome = capacity.step(generators, duration_s, window_s, *extra)
    outcome["pool"] = pool
    return outcome


def _worker_rss(outcome: dict[str, Any]) -> float:
    by_role = outcome["memory_peak"].get("rss_by_role_mib", {})
    return float(by_role.get("generator", 0.0) + by_role.get("aggregator", 0.0))


def run(*, quick: bool) -> Result:
    """One run per installed pool, at the same load."""
    pools, generators, duration_s, window_s = (
        (("solo",), 200, 2.0, 1.0) if quick else (POOLS, 20_000, 20.0, 5.0)
    )
    rows = [measure(pool, generators, duration_s, window_s) for pool in pools if _available(pool)]
    skipped = [pool for pool in pools if not _available(pool)]
    result = Result("pools", data={"generators": generators, "runs": rows, "skipped": skipped})
    for row in rows:
        lat, ticks = row["latency_ms"], row["tick_error_ms"]
        result.add(
            f"{row['pool']}, {generators} generators",
            f"{row['counted_per_s']:.0f}/s, latency p50/p99 {lat.get('p50')}/{lat.get('p99')} ms, "
            f"tick p99 {ticks.get('p99')} ms",
            f"workers RSS {_worker_rss(row):.0f} MiB, all {row['rss_peak_mib']:.0f} MiB",
            "sustained",
            met=row["sustained"],
        )
    for pool in skipped:
        result.add(f"{pool}", "not installed")
    return result
