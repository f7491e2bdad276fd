"""Tick accuracy: when each tick is produced against its grid, aggregen vs plain beat.

aggregen: each tick's lateness (the report's ``tick_error_ms``, sampled live to follow it
over time), the windows' close times against ``started_at + k * window``, and whether the
last tick fell in the last interval. Anchor: the send times of a plain Celery
``schedule(interval)`` beat entry against the grid of its first send.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, cast

from benchmarks import plain
from benchmarks.job import AggregenJob
from benchmarks.result import Result
from benchmarks.sampler import Sampler
from benchmarks.stats import histogram_delta, percentile, slope

TARGET_P99_MS = 10.0
# A trend in lateness smaller than this over a whole run is noise, not drift.
DRIFT_TOLERANCE_MS = 5.0


def _follow_tick_errors(job: AggregenJob, duration_s: float) -> list[tuple[float, int]]:
    """(seconds since the run started, lateness ms) of each tick, read as it is produced."""
    job.started()
    client = job.redis()

    def snapshot() -> dict[str, str]:
        return cast(dict[str, str], client.hgetall("aggregen:tick_error_ms"))

    with Sampler(snapshot, 0.1) as sampler:
        job.wait(duration_s + 120)
    series: list[tuple[float, int]] = []
    before: dict[str, str] = {}
    for at_s, histogram in sampler.samples:
        series += [(at_s, ms) for ms in histogram_delta(before, histogram)]
        before = histogram
    return series


def _window_errors_ms(report: dict[str, Any]) -> list[float]:
    started_at, window_s = report["started_at"], report["settings"]["window_s"]
    scheduled = report["windows"][:-1]  # the last one is closed by the stop, not the grid
    return [(w["closed_at"] - (started_at + (w["index"] + 1) * window_s)) * 1000 for w in scheduled]


def _last_tick(report: dict[str, Any]) -> dict[str, Any]:
    settings = report["settings"]
    interval_s, duration_s, ticks = (
        settings["interval_s"],
        settings["duration_s"],
        settings["ticks"],
    )
    last_due_s = (ticks - 1) * interval_s
    latest_s = last_due_s + report["tick_error_ms"]["max"] / 1000
    return {
        "ticks": ticks,
        "expected_ticks": math.ceil(duration_s / interval_s - 1e-9),
        "last_due_s": last_due_s,
        "last_produced_by_s": latest_s,
        "in_last_interval": duration_s - interval_s <= latest_s < duration_s,
    }


def _aggregen(interval_s: float, window_s: float, duration_s: float) -> dict[str, Any]:
    args = ["--duration", f"{duration_s}s", "--interval", f"{interval_s}s"]
    with AggregenJob(*args, "--window", f"{window_s}s") as job:
        series = _follow_tick_errors(job, duration_s)
        report = job.report()
    return {
        "tick_error_ms": report.get("tick_error_ms"),
        "drift_ms_per_min": round(slope(series) * 60, 3),
        "series": series,
        "window_close_error_ms": [round(e, 1) for e in _window_errors_ms(report)],
        "last_tick": _last_tick(report),
        "balanced": report.get("balanced"),
    }


def _plain(interval_s: float, duration_s: float) -> dict[str, Any]:
    sent = plain.beat_send_times(interval_s, duration_s)
    if len(sent) < 2:
        raise RuntimeError(f"plain beat sent {len(sent)} task(s) in {duration_s:g}s")
    errors_ms = [(at - (sent[0] + k * interval_s)) * 1000 for k, at in enumerate(sent)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    return {
        "sends": len(sent),
        "error_ms": {
            "p50": round(percentile(errors_ms, 0.5), 1),
            "p99": round(percentile(errors_ms, 0.99), 1),
            "max": round(max(errors_ms, default=0.0), 1),
            "last": round(errors_ms[-1], 1) if errors_ms else 0.0,
        },
        "interval_s": {
            "p50": round(percentile(gaps, 0.5), 4),
            "min": round(min(gaps, default=0.0), 4),
            "max": round(max(gaps, default=0.0), 4),
        },
        "drift_ms_per_min": round(
            slope([(at - sent[0], e) for at, e in zip(sent, errors_ms, strict=True)]) * 60, 3
        ),
    }


def run(*, quick: bool) -> Result:
    """Measure both, one after the other, at the same interval."""
    interval_s, window_s, duration_s = (0.25, 0.5, 2.0) if quick else (1.0, 10.0, 60.0)
    result = Result("ticks")
    ours = _aggregen(interval_s, window_s, duration_s)
    theirs = _plain(interval_s, duration_s)
    result.data = {
        "interval_s": interval_s,
        "duration_s": duration_s,
        "aggregen": ours,
        "plain_beat": theirs,
    }
    _add_accuracy(result, ours, theirs, duration_s)
    _add_grid_checks(result, ours)
    return result


def _add_accuracy(
    result: Result, ours: dict[str, Any], theirs: dict[str, Any], duration_s: float
) -> None:
    ticks, anchor = ours["tick_error_ms"] or {}, theirs["error_ms"]
    p99 = ticks.get("p99", 0)
    result.add(
        "tick error p50/p99/max ms",
        f"{ticks.get('p50')}/{p99}/{ticks.get('max')}",
        f"plain beat {anchor['p50']}/{anchor['p99']}/{anchor['max']}",
        f"p99 <= {TARGET_P99_MS:g}",
        met=p99 <= TARGET_P99_MS,
    )
    drift_over_run_ms = ours["drift_ms_per_min"] * duration_s / 60
    result.add(
        "drift ms/min (over the run)",
        f"{ours['drift_ms_per_min']:+.2f} ({drift_over_run_ms:+.1f} ms)",
        f"plain beat {theirs['drift_ms_per_min']:+.2f} (last tick {anchor['last']:+.0f} ms)",
        f"|drift over run| < {DRIFT_TOLERANCE_MS:g} ms",
        met=abs(drift_over_run_ms) < DRIFT_TOLERANCE_MS,
    )


def _add_grid_checks(result: Result, ours: dict[str, Any]) -> None:
    closes = ours["window_close_error_ms"]
    result.add(
        "window close error max ms",
        f"{max(closes, default=0):.0f} over {len(closes)} windows",
    )
    last = ours["last_tick"]
    result.add(
        "last tick in last interval",
        f"{last['in_last_interval']} (ticks {last['ticks']}/{last['expected_ticks']})",
        met=bool(last["in_last_interval"]) and last["ticks"] == last["expected_ticks"],
    )
