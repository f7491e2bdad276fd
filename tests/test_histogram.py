"""Percentiles of the millisecond histograms."""

from __future__ import annotations

from tasks.histogram import Distribution


def test_percentiles_come_from_the_bucket_counts() -> None:
    buckets = {str(ms): "1" for ms in range(1, 101)}

    summary = Distribution.of(buckets)

    assert (summary.count, summary.p50_ms, summary.p90_ms, summary.p99_ms) == (100, 50, 90, 99)
    assert summary.max_ms == 100


def test_one_slow_outlier_shows_in_max_not_in_the_median() -> None:
    summary = Distribution.of({2: 999, 5000: 1})

    assert summary.p50_ms == summary.p99_ms == 2
    assert summary.max_ms == 5000


def test_an_empty_histogram_is_all_zeros() -> None:
    assert Distribution.of({}).to_dict() == {"count": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
