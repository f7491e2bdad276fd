"""The coordinator: starts or resumes a run, ends it at its deadline or on request.

Ending a run is an ordered sequence; each step waits with a bound:

1. close generation, so no tick at or after the stop time is produced;
2. catch up every tick due before it, so each generator has all its numbers;
3. drain: wait until every number produced has been counted, republishing stragglers;
4. final flush: the last window is printed and the run closed;
5. mark the run finished (beat exits) and ask every worker for a warm shutdown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from tasks import generator, ledger, report, run, window
from tasks.celery_app import app
from tasks.context import Context
from tasks.report import Audit
from tasks.run import RunRecord
from tasks.settings import Settings
from tasks.stopper import Stopper

logger = logging.getLogger(__name__)

POLL_S = 0.1
SWEEP_EVERY_S = 1.0
# Numbers claimed for republishing per sweep.
SWEEP_BATCH = 10_000
# A new run waits this long at most for workers on these queues.
WORKERS_WAIT_S = 60.0
CONSUMED_QUEUES = ("generate", "aggregate", "flush")
# Bound on waiting for beat to go quiet and the queues to empty before the shutdown.
QUIESCE_S = 5.0

Progress = Callable[[], None]
T = TypeVar("T")
_OUTAGE = (redis.ConnectionError, redis.TimeoutError, OSError)


class Coordinator:
    """Ends one run on one Redis prefix."""

    def __init__(
        self,
        ctx: Context,
        settings: Settings,
        stopper: Stopper,
        on_progress: Progress | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.stopper = stopper
        self.on_progress = on_progress or (lambda: None)
        self.stop_reason = "deadline"
        self.resumed = False
        self._last_sweep_s = 0.0
        self._redis_warned = False

    def start(self, *, lead_s: float = 0.5) -> RunRecord:
        """Resume the active run on this prefix, or start a new one ``lead_s`` from now.

        A new run waits (at most ``WORKERS_WAIT_S``) until both queues have a consumer, so
        that its first ticks are not produced late.
        """
        existing = run.read(self.ctx.client, self.ctx.keys)
        if existing is not None and existing.state in (run.RUNNING, run.STOPPING):
            logger.info("resuming run %s (%s)", existing.id, existing.state)
            self.resumed = True
            return existing
        self._wait_for_consumers()
        record = run.new_run(self.ctx.client, self.ctx.keys, self.settings, time.time() + lead_s)
        logger.info("run %s started: %s", record.id, self.settings.describe())
        return record

    def finish(self, record: RunRecord, *, broadcast_shutdown: bool = True) -> Audit:
        """Wait for the deadline or a stop request, then end the run in order."""
        self._wait_for_end(record)

        logger.info("run %s: stopping (%s); closing generation", record.id, self.stop_reason)
        record = self._retry(lambda: self._close_generation(record))
        self._retry(lambda: self._catch_up(record))

        pending = self._drain(record)
        if pending:
            sample = self._retry(lambda: ledger.pending_sample(self.ctx, 10))
            logger.warning(
                "run %s: %d numbers generated but not counted when the drain ended "
                "(generator:tick of some: %s)",
                record.id,
                pending,
                ", ".join(sample),
            )

        # The last window closes only after the drain, so it holds every drained number.
        closed = self._retry(lambda: self._final_flush(record))
        if closed is not None:
            logger.info("run %s: last window %d closed", record.id, closed.index)
        # A prefork worker told to stop just as a task completes can take 30 s to exit (its
        # pool children wait for the parent to read their results): stop while idle instead.
        if not self._retry(lambda: self._wait_until_idle(record)):
            logger.info(
                "run %s: workers not idle after %.0fs; stopping anyway", record.id, QUIESCE_S
            )
        self._retry(lambda: run.mark_finished(self.ctx.client, self.ctx.keys, time.time()))

        if broadcast_shutdown:
            self.shutdown_workers()
        return self._retry(lambda: report.take(self.ctx))

    def shutdown_workers(self) -> None:
        """Ask every worker of the app for a warm shutdown through remote control."""
        logger.info("asking every worker for a warm shutdown")
        try:
            app.control.shutdown()
        except Exception as exc:  # kombu raises several unrelated types for a lost broker
            logger.warning("could not broadcast the shutdown (%s)", exc)

    def _wait_for_consumers(self) -> None:
        deadline_s = time.monotonic() + WORKERS_WAIT_S
        missing: set[str] = set(CONSUMED_QUEUES)
        while time.monotonic() < deadline_s and self.stopper.reason is None:
            replies: dict[str, Any] = app.control.inspect(timeout=1.0).active_queues() or {}
            consumed = {queue["name"] for queues in replies.values() for queue in queues}
            missing = set(CONSUMED_QUEUES) - consumed
            if not missing:
                return
            self.on_progress()
        if missing:
            logger.warning(
                "no worker consumes %s after %.0fs; starting the run anyway",
                ", ".join(sorted(missing)),
                WORKERS_WAIT_S,
            )

    def join_workers(self, timeout_s: float) -> list[str]:
        """Wait until no worker answers a ping; returns the ones still answering."""
        deadline_s = time.monotonic() + timeout_s
        alive: list[str] = []
        while time.monotonic() < deadline_s:
            replies: list[dict[str, Any]] = app.control.ping(timeout=1.0) or []
            alive = sorted(name for reply in replies for name in reply)
            if not alive:
                return []
            logger.debug("still answering: %s", ", ".join(alive))
        return alive

    def _wait_for_end(self, record: RunRecord) -> None:
        while True:
            if self.stopper.reason is not None:
                self.stop_reason = self.stopper.reason
                return
            if time.time() >= record.deadline_at:
                return
            requested = self._quietly(lambda: run.stop_requested(self.ctx.client, self.ctx.keys))
            if requested:
                self.stop_reason = f"stop requested ({requested})"
                return
            self._tick(record)

    def _close_generation(self, record: RunRecord) -> RunRecord:
        stop_at = min(time.time(), record.deadline_at)
        end_tick = record.due_ticks(stop_at)
        in_force = self.ctx.scripts.close_generation(
            keys=[self.ctx.keys.run, self.ctx.keys.cursors],
            args=[record.id, end_tick, repr(stop_at)],
        )
        logger.info("run %s: generation closed at %d ticks per generator", record.id, in_force)
        updated = run.read(self.ctx.client, self.ctx.keys)
        assert updated is not None
        return updated

    def _catch_up(self, record: RunRecord) -> None:
        produced = 0
        for shard in range(record.shards):
            # One call produces a bounded amount; a shard far behind takes several.
            while made := generator.catch_up(self.ctx, shard, generator.publish):
                produced += made
        if produced:
            logger.info("run %s: caught up %d numbers due before the stop", record.id, produced)

    def _drain(self, record: RunRecord) -> int:
        deadline_s = time.monotonic() + self.settings.drain_timeout_s
        while not self.stopper.forced and time.monotonic() < deadline_s:
            if self._quietly(lambda: ledger.pending_count(self.ctx)) == 0:
                return 0
            self._tick(record)
        if self.stopper.forced:
            logger.warning("run %s: second stop request; the rest of the drain skipped", record.id)
        return self._retry(lambda: ledger.pending_count(self.ctx))

    def _wait_until_idle(self, record: RunRecord) -> bool:
        deadline_s = time.monotonic() + QUIESCE_S
        while time.monotonic() < deadline_s and not self.stopper.forced:
            if self._idle():
                return True
            self.on_progress()
            time.sleep(POLL_S)
        return False

    def _idle(self) -> bool:
        keys = self.ctx.keys
        with self.ctx.client.pipeline(transaction=False) as pipe:
            pipe.hget(keys.run, "beat_idle")
            pipe.hget(keys.run, "id")
            for queue in keys.celery_queues():
                pipe.llen(queue)
            pipe.hlen(keys.celery_unacked())
            beat_idle, run_id, *backlogs = pipe.execute()
        return bool(beat_idle == run_id and not any(backlogs))

    def _final_flush(self, record: RunRecord) -> window.Window | None:
        return window.close(self.ctx, flush_id=f"final:{record.id}", final=True)

    def _tick(self, record: RunRecord) -> None:
        now_s = time.monotonic()
        if now_s - self._last_sweep_s >= SWEEP_EVERY_S:
            self._last_sweep_s = now_s
            self._quietly(lambda: self._republish_stale(record))
        self.on_progress()
        time.sleep(POLL_S)

    def _republish_stale(self, record: RunRecord) -> int:
        now = time.time()
        numbers = ledger.claim_stale(
            self.ctx,
            record.id,
            now=now,
            redeliver_after_s=self.settings.redeliver_after_s,
            limit=SWEEP_BATCH,
        )
        if numbers:
            logger.warning(
                "run %s: %d numbers pending longer than %.1fs (oldest %.1fs); "
                "publishing them again",
                record.id,
                len(numbers),
                self.settings.redeliver_after_s,
                now - min(number.generated_at for number in numbers),
            )
            generator.publish(numbers)
        return len(numbers)

    def _quietly(self, action: Callable[[], T]) -> T | None:
        """Run ``action``; during a Redis outage, wait a moment and return None."""
        try:
            result = action()
        except _OUTAGE as exc:
            self._outage(exc)
            return None
        self._recovered()
        return result

    def _retry(self, action: Callable[[], T]) -> T:
        """Run ``action`` until Redis lets it finish."""
        while True:
            try:
                result = action()
            except _OUTAGE as exc:
                self._outage(exc)
                continue
            self._recovered()
            return result

    def _outage(self, exc: Exception) -> None:
        if not self._redis_warned:
            logger.warning("Redis is unavailable (%s); retrying", exc)
            self._redis_warned = True
        self.on_progress()  # keeps supervising: the private Redis may need starting again
        time.sleep(POLL_S)

    def _recovered(self) -> None:
        if self._redis_warned:
            logger.warning("Redis is reachable again")
            self._redis_warned = False
