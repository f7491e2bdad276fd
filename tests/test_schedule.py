"""Beat's grid: ticks at anchor + k * period, each fired once, no drift."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tasks.schedule import GridSchedule


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_grid_points_sit_on_the_anchor_not_on_the_last_send() -> None:
    grid = GridSchedule(1.0, anchor_s=100.25)

    assert grid.next_point_after(100.25) == 101.25
    assert grid.next_point_after(100.9) == 101.25
    assert grid.next_point_after(5000.3) == 5000.25 + 1


def test_a_late_send_does_not_push_the_next_tick_later() -> None:
    now = time.time()
    grid = GridSchedule(1.0, anchor_s=now - 10.0)

    # Last sent 300 ms late, 1.3 s ago: the next point (0.3 s ago) is due now.
    due, next_in_s = grid.is_due(moment(now - 1.3))

    assert due
    assert next_in_s == pytest.approx(1.0, abs=0.05)


def test_a_point_just_sent_is_not_sent_again() -> None:
    now = time.time()
    grid = GridSchedule(1.0, anchor_s=now - 10.0005)

    due, next_in_s = grid.is_due(moment(now - 0.0004))

    assert not due
    assert 0.9 < next_in_s <= 1.0
