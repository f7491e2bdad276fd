"""Every Redis key aggregen uses, in one place.

One run is active per key prefix. Its state is these keys; a new run on the same prefix
starts by deleting them (see ``Keys.run_state``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix (``AGGREGEN_KEY_PREFIX``, default ``aggregen``)."""

    prefix: str

    @property
    def run(self) -> str:
        """Hash: the run record (id, state, started_at, deadline_at, end_tick, closed, ...)."""
        return f"{self.prefix}:run"

    @property
    def stop_request(self) -> str:
        """String: set by ``aggregen stop``; its value is who asked and when."""
        return f"{self.prefix}:stop"

    @property
    def cursors(self) -> str:
        """Hash: shard -> the next tick that shard's generators have not produced yet."""
        return f"{self.prefix}:cursor"

    @property
    def pending(self) -> str:
        """Hash: number id ``generator:tick`` -> ``value,generated_at``; generated, not counted."""
        return f"{self.prefix}:pending"

    @property
    def pending_since(self) -> str:
        """Sorted set: number id scored by when it was last published."""
        return f"{self.prefix}:pending:since"

    @property
    def window(self) -> str:
        """Hash: the open window (index, opened_at, sum, count)."""
        return f"{self.prefix}:window"

    @property
    def windows(self) -> str:
        """List: one JSON record per closed window, oldest first."""
        return f"{self.prefix}:windows"

    @property
    def totals(self) -> str:
        """Hash: generated_count/sum, counted_count/sum, duplicates_dropped."""
        return f"{self.prefix}:totals"

    @property
    def latency_ms(self) -> str:
        """Hash: whole milliseconds from generation to counting -> how many numbers."""
        return f"{self.prefix}:latency_ms"

    @property
    def tick_error_ms(self) -> str:
        """Hash: whole milliseconds a tick was produced after its due time -> how many ticks."""
        return f"{self.prefix}:tick_error_ms"

    @property
    def flushes(self) -> str:
        """Set: ids of flush requests already applied, so a redelivered flush is a no-op."""
        return f"{self.prefix}:flushes"

    @property
    def dead_letters(self) -> str:
        """Hash: ``message-id/position`` -> JSON of a rejected input and the reason."""
        return f"{self.prefix}:deadletter"

    @staticmethod
    def celery_queues() -> tuple[str, ...]:
        """kombu's lists of waiting messages, one per queue (not under the prefix)."""
        return ("generate", "aggregate", "flush")

    @staticmethod
    def celery_unacked() -> str:
        """kombu's hash of messages delivered to a worker and not yet acknowledged."""
        return "unacked"

    def run_state(self) -> tuple[str, ...]:
        """The keys that make up one run; deleted together when a new run starts."""
        return (
            self.run,
            self.stop_request,
            self.cursors,
            self.pending,
            self.pending_since,
            self.window,
            self.windows,
            self.totals,
            self.latency_ms,
            self.tick_error_ms,
            self.flushes,
            self.dead_letters,
        )
