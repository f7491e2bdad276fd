"""Capacity: the most generators at 1 Hz the job sustains here, vs plain Celery and Redis.

Steps up the number of generators; each step is a run of its own. A step is sustained when
the audit balances, p99 latency stays under 1 s, ticks are not late by more than 1 s, and
the backlog (pending numbers and waiting messages) does not grow over the run. The first
step that is not sustained ends the climb. Anchors, on private Redis servers: one plain
Celery worker running a no-op task per message, and pipelined INCR (the Redis ceiling).
"""

from __future__ import annotations

from typing import Any

from benchmarks import plain, probes
from benchmarks.job import AggregenJob
from benchmarks.redis_server import PrivateRedis
from benchmarks.result import Result
from benchmarks.sampler import Sampler
from benchmarks.stats import slope

TARGET_GENERATORS = 10_000
LATENCY_P99_LIMIT_MS = 1000
TICK_P99_LIMIT_MS = 1000
MIN_TREND_POINTS = 6
STEPS = [5000, 7500, 10_000, 12_500, 15_000, 20_000, 30_000, 40_000]
# The second climb: two generate processes, so the shards of a tick are produced in parallel.
TUNED = "--generate-concurrency 2"
MIN_TREND_POINTS = 6
STEPS = [5000, 7500, 10_000, 12_500, 15_000, 20_000, 30_000, 40_000]
# The second climb: two generate processes, so the shards of a tick are produced in parallel.
TUNED = "--generate-concurrency 2"


def _growth_per_s(samples: list[tuple[float, dict[str, int]]], duration_s: float) -> float:
    """Slope of pending numbers over the second half of the run, numbers/s."""
    half = [
        (t, s["pending"] + 1000 * s["aggregate_queue"]) for t, s in samples if t > duration_s / 2
    ]
    half = [(t, v) for t, v in half if t < duration_s]
    # Too few points for a trend (the quick form): no growth can be told.
    return slope(half) if len(half) >= MIN_TREND_POINTS else 0.0


def _sampled_run(args: list[str], duration_s: float) -> dict[str, Any]:
    """Run aggregen; sample its backlog every half second and its memory every two."""
    with AggregenJob(*args) as job:
        job.started()
        memory: list[dict[str, Any]] = []
        with Sampler(lambda: probes.backlog(job), 0.5) as sampler:
            for _ in range(int(duration_s / 2) + 1):
                memory.append(probes.memory(job))
                if job.exited_within(2.0):
                    break
            code = job.wait(duration_s + 180)
        return {"code": code, "report": job.report(), "samples": sampler.samples, "memory": memory}


def step(generators: int, duration_s: float, window_s: float, *extra: str) -> dict[str, Any]:
    """One run of ``generators`` at 1 Hz, judged sustained or not."""
    args = ["--generators", str(generators), "--duration", f"{duration_s}s"]
    outcome = _sampled_run([*args, "--window", f"{window_s}s", *extra], duration_s)
    report, samples, memory = outcome["report"], outcome["samples"], outcome["memory"]
    growth = _growth_per_s(samples, duration_s)
    latency, ticks = report.get("latency_ms") or {}, report.get("tick_error_ms") or {}
    sustained = (
        outcome["code"] == 0
        and bool(report.get("balanced"))
        and latency.get("p99", 10**9) < LATENCY_P99_LIMIT_MS
        and ticks.get("p99", 10**9) < TICK_P99_LIMIT_MS
        and growth < 0.02 * generators
    )
    counted = (report.get("counted") or {}).get("count", 0)
    return {
        "generators": generators,
        "exit_code": outcome["code"],
        "balanced": report.get("balanced"),
        "counted": counted,
        "counted_per_s": round(counted / duration_s, 1),
        "latency_ms": latency,
        "tick_error_ms": ticks,
        "pending_peak": max((s["pending"] for t, s in samples if t < duration_s), default=0),
        "backlog_growth_per_s": round(growth, 1),
        "rss_peak_mib": max((m["rss_mib"] for m in memory), default=0.0),
        "memory_peak": max(memory, key=lambda m: m["rss_mib"], default={}),
        "sustained": sustained,
        "backlog_samples": [(round(t, 2), s) for t, s in samples],
    }


def _anchors(quick: bool) -> dict[str, Any]:
    messages, incr_calls, bench_requests = (
        (200, 10_000, 50_000) if quick else (3000, 200_000, 1_000_000)
    )
    with PrivateRedis() as server:
        pipelined = plain.redis_pipelined_incr(server, incr_calls)
        benchmark = plain.redis_benchmark_incr(server, bench_requests)
    return {
        "celery_noop": plain.noop_throughput(messages),
        "redis_py_pipelined_incr_per_s": round(pipelined),
        "redis_benchmark_incr_p32_per_s": benchmark,
    }


def climb(steps: list[int], duration_s: float, *extra: str) -> list[dict[str, Any]]:
    """Run each step in turn until one is not sustained."""
    window_s = 5.0 if duration_s >= 10 else 1.0
    climbed: list[dict[str, Any]] = []
    for generators in steps:
        climbed.append(step(generators, duration_s, window_s, *extra))
        if not climbed[-1]["sustained"]:
            break
    return climbed


def run(*, quick: bool) -> Result:
    """Climb with the default settings and with two generate processes; then the anchors."""
    steps, duration_s = ([200], 2.0) if quick else (STEPS, 25.0)
    climbs = {"default": climb(steps, duration_s)}
    if not quick:
        climbs[TUNED] = climb(steps, duration_s, *TUNED.split())
    anchors = _anchors(quick)
    data = {"duration_s": duration_s, "climbs": climbs, "anchors": anchors}
    result = Result("capacity", data=data)

    noop = anchors["celery_noop"]["tasks_per_s"]
    ceiling = anchors["redis_benchmark_incr_p32_per_s"] or anchors["redis_py_pipelined_incr_per_s"]
    for name, climbed in climbs.items():
        best = max((s["generators"] for s in climbed if s["sustained"]), default=0)
        result.add(
            f"most generators sustained at 1 Hz ({name})",
            f"{best}",
            f"celery no-op {noop:.0f} tasks/s; redis INCR -P32 {ceiling:,.0f}/s",
            f">= {TARGET_GENERATORS}",
            met=best >= TARGET_GENERATORS if not quick else None,
        )
        _add_steps(result, name, climbed)
    return result


def _add_steps(result: Result, name: str, climbed: list[dict[str, Any]]) -> None:
    for s in climbed:
        lat, ticks = s["latency_ms"], s["tick_error_ms"]
        result.add(
            f"{s['generators']} generators ({name})",
            f"{s['counted_per_s']:.0f}/s, p99 {lat.get('p99')} ms, tick p99 {ticks.get('p99')} ms,"
            f" peak pending {s['pending_peak']}, growth {s['backlog_growth_per_s']:+.0f}/s",
            "",
            "sustained",
            met=s["sustained"],
        )
