"""Summaries of the millisecond histograms kept in Redis (latency, tick lateness)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Distribution:
    """Percentiles of a histogram of whole milliseconds."""

    count: int
    p50_ms: int
    p90_ms: int
    p99_ms: int
    max_ms: int

    @classmethod
    def of(cls, buckets: Mapping[str, str] | Mapping[int, int]) -> Distribution:
        """Summarise ``{milliseconds: how many}``; empty gives all zeros."""
        pairs = sorted((int(ms), int(n)) for ms, n in buckets.items())
        total = sum(n for _, n in pairs)
        if total == 0:
            return cls(0, 0, 0, 0, 0)
        return cls(
            count=total,
            p50_ms=_percentile(pairs, total, 0.50),
            p90_ms=_percentile(pairs, total, 0.90),
            p99_ms=_percentile(pairs, total, 0.99),
            max_ms=pairs[-1][0],
        )

    def to_dict(self) -> dict[str, int]:
        """The form written into reports."""
        return {
            "count": self.count,
            "p50": self.p50_ms,
            "p90": self.p90_ms,
            "p99": self.p99_ms,
            "max": self.max_ms,
        }


def _percentile(pairs: list[tuple[int, int]], total: int, fraction: float) -> int:
    wanted = fraction * total
    seen = 0
    for ms, n in pairs:
        seen += n
        if seen >= wanted:
            return ms
    return pairs[-1][0]
