"""Latency from generation to count, at 1 Hz and under load, vs a plain Redis round trip.

aggregen's figure is the report's ``latency_ms``, measured inside Redis from the number's
generation time to its count. The anchor is redis-py's INCRBY round trip, on the same kind
of unix socket and on TCP loopback: the floor of any one hop through Redis.
"""

from __future__ import annotations

from typing import Any

from benchmarks import plain
from benchmarks.job import run_job
from benchmarks.redis_server import PrivateRedis
from benchmarks.result import Result

TARGET_P99_MS = 10


def _aggregen(generators: int, duration_s: float, window_s: float) -> dict[str, Any]:
    args = ["--generators", str(generators), "--duration", f"{duration_s}s"]
    outcome = run_job(*args, "--window", f"{window_s}s", duration_s=duration_s)
    report = outcome["report"]
    return {
        "generators": generators,
        "duration_s": duration_s,
        "exit_code": outcome["exit_code"],
        "balanced": report.get("balanced"),
        "latency_ms": report.get("latency_ms"),
        "tick_error_ms": report.get("tick_error_ms"),
    }


def _round_trips(calls: int) -> dict[str, Any]:
    with PrivateRedis() as server:
        return {
            "unix": plain.redis_round_trips(server, calls, unix=True),
            "tcp": plain.redis_round_trips(server, calls, unix=False),
        }


def run(*, quick: bool) -> Result:
    """One run at 1 Hz with one generator, one with many, then the round trips."""
    duration_s, window_s, loaded, calls = (
        (2.0, 1.0, 200, 500) if quick else (30.0, 10.0, 10_000, 10_000)
    )
    # 1 Hz for two minutes: enough numbers for a p99 that is not just the slowest one.
    idle = _aggregen(1, duration_s if quick else 120.0, window_s)
    # The quick form skips the loaded run: it proves the code path, not the figure.
    busy = None if quick else _aggregen(loaded, duration_s, window_s)
    anchor = _round_trips(calls)
    result = Result("latency", data={"one": idle, "loaded": busy, "redis_rtt": anchor})

    unix, tcp = anchor["unix"], anchor["tcp"]
    anchor_text = (
        f"INCRBY unix {unix['p50_ms']}/{unix['p99_ms']}, tcp {tcp['p50_ms']}/{tcp['p99_ms']}"
    )
    runs = [("1 generator", idle)] + ([(f"{loaded} generators", busy)] if busy else [])
    for label, figures in runs:
        lat = figures["latency_ms"] or {}
        is_target = label == "1 generator"
        result.add(
            f"latency p50/p99 ms, {label} at 1 Hz",
            f"{lat.get('p50')}/{lat.get('p99')} (max {lat.get('max')})",
            anchor_text if is_target else "",
            f"p99 <= {TARGET_P99_MS}" if is_target else "",
            met=(lat.get("p99", 10**9) <= TARGET_P99_MS) if is_target else None,
        )
    return result
