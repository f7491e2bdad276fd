"""Footprint: resident memory of the whole local topology, and how it grows with generators.

Sums RSS (and PSS, which shares the pages prefork children inherit fairly) over aggregen
and every descendant: the coordinator, the workers and their pool children, beat, and the
private redis-server. Sampled every second during the run; the peak is reported.
"""

from __future__ import annotations

from typing import Any

from benchmarks import probes
from benchmarks.job import AggregenJob
from benchmarks.result import Result


def measure(generators: int, duration_s: float) -> dict[str, Any]:
    """Peak memory of one run of ``generators`` at 1 Hz."""
    args = ["--generators", str(generators), "--duration", f"{duration_s}s"]
    with AggregenJob(*args, "--window", f"{max(1.0, duration_s / 4)}s") as job:
        job.started()
        samples: list[dict[str, Any]] = []
        for _ in range(int(duration_s) + 2):
            samples.append(probes.memory(job))
            if job.exited_within(1.0):
                break
        code = job.wait(duration_s + 120)
        report = job.report()
    peak = max(samples, key=lambda sample: sample["rss_mib"], default={})
    return {
        "generators": generators,
        "exit_code": code,
        "balanced": report.get("balanced"),
        "peak": peak,
        "pss_peak_mib": max((s["pss_mib"] for s in samples), default=0.0),
    }


def run(*, quick: bool) -> Result:
    """One run per size."""
    sizes, duration_s = ([100], 2.0) if quick else ([1, 1000, 10_000, 40_000], 15.0)
    rows = [measure(generators, duration_s) for generators in sizes]
    result = Result("footprint", data={"duration_s": duration_s, "sizes": rows})
    for row in rows:
        peak = row["peak"]
        roles = ", ".join(f"{k} {v:.0f}" for k, v in peak.get("rss_by_role_mib", {}).items())
        result.add(
            f"RSS MiB, {row['generators']} generators",
            f"{peak.get('rss_mib')} (PSS {row['pss_peak_mib']}, {peak.get('processes')} procs)",
            roles,
        )
    return result
