"""Beat's side of a run: a drift-free grid schedule, and a scheduler that follows the run.

``GridSchedule`` fires at ``anchor + k * period``, not ``period`` after the last send, so
ticks do not drift. ``RunScheduler`` anchors every grid at the run's start, drops the
generate entries once the coordinator closes generation, and ends beat when the run it
served has finished.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis
from celery.beat import Scheduler
from celery.schedules import schedstate, schedule

from tasks import run
from tasks.context import current

logger = logging.getLogger(__name__)

# A grid point counts as reached this much before it, since beat wakes a little early.
_EARLY_S = 0.001
# After a send, the next point is looked for this far past it, so one point fires once.
_PAST_SEND_S = 0.002
# How often beat reads the run record.
FOLLOW_EVERY_S = 0.25


class GridSchedule(schedule):  # type: ignore[misc]
    """Due at ``anchor_s + k * period_s`` for every whole k."""

    def __init__(self, period_s: float, anchor_s: float = 0.0, app: Any = None) -> None:
        super().__init__(run_every=period_s, app=app)
        self.period_s = period_s
        self.anchor_s = anchor_s

    def next_point_after(self, moment_s: float) -> float:
        """The first grid point strictly after ``moment_s``."""
        k = math.floor((moment_s - self.anchor_s) / self.period_s) + 1
        return self.anchor_s + k * self.period_s

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        due_s = self.next_point_after(_timestamp(last_run_at) + _PAST_SEND_S)
        return timedelta(seconds=max(0.0, due_s - time.time()))

    def is_due(self, last_run_at: datetime) -> schedstate:
        now_s = time.time()
        due_s = self.next_point_after(_timestamp(last_run_at) + _PAST_SEND_S)
        if now_s >= due_s - _EARLY_S:
            return schedstate(True, self.next_point_after(now_s + _PAST_SEND_S) - now_s)
        return schedstate(False, due_s - now_s)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GridSchedule):
            return (self.period_s, self.anchor_s) == (other.period_s, other.anchor_s)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.period_s, self.anchor_s))

    def __reduce__(self) -> tuple[Any, ...]:
        return self.__class__, (self.period_s, self.anchor_s, self._app)

    def __repr__(self) -> str:
        return f"<grid every {self.period_s}s from {self.anchor_s}>"


def _timestamp(moment: datetime) -> float:
    return moment.timestamp()


def run_entries(
    *, shards: int, interval_s: float, window_s: float, anchor_s: float = 0.0
) -> dict[str, dict[str, Any]]:
    """Beat entries of a run: one generate per shard every interval, one flush every window."""
    entries: dict[str, dict[str, Any]] = {
        f"generate-shard-{shard}": {
            "task": "aggregen.generate",
            "schedule": GridSchedule(interval_s, anchor_s),
            "args": (shard,),
            # A stale generate is harmless to drop: the next one catches its ticks up.
            "options": {"expires": max(10 * interval_s, 5.0)},
        }
        for shard in range(shards)
    }
    entries["flush"] = {"task": "aggregen.flush", "schedule": GridSchedule(window_s, anchor_s)}
    return entries


class RunScheduler(Scheduler):  # type: ignore[misc]
    """An in-memory beat scheduler that follows the active run in Redis."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._served_run: str | None = None
        self._next_follow_s = 0.0
        self._redis_down = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now_s = time.monotonic()
        if now_s >= self._next_follow_s:
            self._next_follow_s = now_s + FOLLOW_EVERY_S
            self._follow_run()
        delay_s: float = super().tick(*args, **kwargs)
        return min(delay_s, FOLLOW_EVERY_S)

    def _follow_run(self) -> None:
        ctx = current()
        try:
            record = run.read(ctx.client, ctx.keys)
        except redis.RedisError as exc:
            if not self._redis_down:
                logger.warning("beat: cannot read the run from Redis (%s); retrying", exc)
            self._redis_down = True
            return
        if self._redis_down:
            logger.warning("beat: Redis is back")
            self._redis_down = False
        if record is None:
            return
        if record.id != self._served_run and record.state in (run.RUNNING, run.STOPPING):
            self._serve(record)
        if record.id != self._served_run:
            return
        if record.closed and not record.beat_idle:
            self._drop_entries(record.id, lambda task: True, "closed; schedule emptied")
            run.mark_beat_idle(ctx.client, ctx.keys, record.id)
        elif record.state == run.STOPPING:
            self._drop_entries(
                record.id, lambda task: task == "aggregen.generate", "stopping; generate revoked"
            )
        if record.state == run.FINISHED:
            logger.info("beat: run %s finished; beat exits", record.id)
            raise SystemExit(0)

    def _serve(self, record: run.RunRecord) -> None:
        # The run record, not this process's settings, says what to schedule: a beat started
        # with other settings than the coordinator still schedules the run as recorded.
        self._drop_entries(record.id, lambda task: True, "found; schedule rebuilt")
        self.update_from_dict(
            run_entries(
                shards=record.shards,
                interval_s=record.interval_s,
                window_s=record.window_s,
                anchor_s=record.started_at,
            )
        )
        self._served_run = record.id
        self._heap = None
        logger.info("beat: scheduling run %s from %.3f", record.id, record.started_at)

    def _drop_entries(self, run_id: str, matches: Callable[[str], bool], why: str) -> None:
        names = [name for name, entry in self.schedule.items() if matches(entry.task)]
        if not names:
            return
        for name in names:
            del self.schedule[name]
        self._heap = None
        logger.info("beat: run %s %s", run_id, why)
