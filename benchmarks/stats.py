"""Small statistics over lists of floats: percentiles, least-squares slope, histograms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope dy/dx of ``(x, y)`` points (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of durations given in seconds, in milliseconds."""
    return {
        "count": len(values_s),
        "p50": round(percentile(values_s, 0.50) * 1000, 3),
        "p99": round(percentile(values_s, 0.99) * 1000, 3),
        "max": round(max(values_s, default=0.0) * 1000, 3),
    }


def histogram_delta(before: Mapping[str, str], after: Mapping[str, str]) -> list[int]:
    """The values added to a Redis ``{value: count}`` histogram between two snapshots."""
    added: list[int] = []
    for bucket, count in after.items():
        extra = int(count) - int(before.get(bucket, 0))
        added += [int(bucket)] * max(0, extra)
    return added
