"""The audit of a run: what was generated, counted and printed, and whether it balances."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tasks import run
from tasks.context import Context
from tasks.histogram import Distribution
from tasks.run import RunRecord
from tasks.settings import Settings
from tasks.window import Window, closed_windows


@dataclass(frozen=True)
class Audit:
    """Counts read from Redis at one moment."""

    run: RunRecord | None
    generated_count: int
    generated_sum: int
    counted_count: int
    counted_sum: int
    pending: int
    duplicates_dropped: int
    dead_lettered: int
    windows: list[Window]
    latency: Distribution
    tick_error: Distribution

    @property
    def windows_sum(self) -> int:
        """The sum printed over all closed windows."""
        return sum(window.sum for window in self.windows)

    @property
    def windows_count(self) -> int:
        """How many numbers the closed windows hold."""
        return sum(window.count for window in self.windows)

    @property
    def balanced(self) -> bool:
        """Every number generated was counted once and printed in one window."""
        return (
            self.pending == 0
            and self.generated_count == self.counted_count == self.windows_count
            and self.generated_sum == self.counted_sum == self.windows_sum
        )

    def to_dict(self, settings: Settings | None = None) -> dict[str, Any]:
        """The report: one JSON-ready object (see README, "The report")."""
        record = self.run
        return {
            "run": record.id if record else None,
            "state": record.state if record else None,
            "windows": [window.to_dict() for window in self.windows],
            "generated": {"count": self.generated_count, "sum": self.generated_sum},
            "counted": {"count": self.counted_count, "sum": self.counted_sum},
            "windows_total": {"count": self.windows_count, "sum": self.windows_sum},
            "pending": self.pending,
            "duplicates_dropped": self.duplicates_dropped,
            "dead_lettered": self.dead_lettered,
            "balanced": self.balanced,
            "latency_ms": self.latency.to_dict(),
            "tick_error_ms": self.tick_error.to_dict(),
            "started_at": record.started_at if record else None,
            "finished_at": record.finished_at if record else None,
            "settings": _settings_of(record, settings),
        }

    def to_json(self, settings: Settings | None = None) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(settings), indent=2)


def take(ctx: Context) -> Audit:
    """Read the audit of the run on ``ctx``'s prefix."""
    keys = ctx.keys
    with ctx.client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.totals)
        pipe.hlen(keys.pending)
        pipe.hlen(keys.dead_letters)
        pipe.hgetall(keys.latency_ms)
        pipe.hgetall(keys.tick_error_ms)
        totals, pending, dead_lettered, latency, tick_error = pipe.execute()
    return Audit(
        run=run.read(ctx.client, keys),
        generated_count=int(totals.get("generated_count", 0)),
        generated_sum=int(totals.get("generated_sum", 0)),
        counted_count=int(totals.get("counted_count", 0)),
        counted_sum=int(totals.get("counted_sum", 0)),
        pending=int(pending),
        duplicates_dropped=int(totals.get("duplicates_dropped", 0)),
        dead_lettered=int(dead_lettered),
        windows=closed_windows(ctx),
        latency=Distribution.of(latency),
        tick_error=Distribution.of(tick_error),
    )


def _settings_of(record: RunRecord | None, settings: Settings | None) -> dict[str, Any]:
    if record is not None:
        return {
            "duration_s": round(record.deadline_at - record.started_at, 6),
            "interval_s": record.interval_s,
            "window_s": record.window_s,
            "generators": record.generators,
            "ticks": record.end_tick,
        }
    if settings is not None:
        return {
            "duration_s": settings.duration_s,
            "interval_s": settings.interval_s,
            "window_s": settings.window_s,
            "generators": settings.generators,
            "ticks": settings.ticks,
        }
    return {}
