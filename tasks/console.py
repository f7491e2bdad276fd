"""What a person sees: one line per closed window, a live status line, a summary."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

import redis

from tasks import run
from tasks.context import Context
from tasks.report import Audit
from tasks.window import Window, closed_windows

STATUS_EVERY_S = 0.5


def clock(moment: float) -> str:
    """``HH:MM:SS.mmm`` in UTC."""
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def window_line(closed: Window) -> str:
    """The line printed when a window closes."""
    return (
        f"window {closed.index:>4}  {clock(closed.opened_at)} - {clock(closed.closed_at)} UTC  "
        f"sum {closed.sum:>10}  count {closed.count:>7}"
    )


def summary_lines(audit: Audit, stop_reason: str) -> list[str]:
    """The closing summary of a run."""
    record = audit.run
    elapsed = ""
    if record is not None and record.finished_at is not None:
        elapsed = f" after {record.finished_at - record.started_at:.1f}s"
    verdict = "the audit balances" if audit.balanced else "THE AUDIT DOES NOT BALANCE"
    state = "finished run" if record is None or record.finished_at is not None else "run"
    return [
        f"{state} {record.id if record else '-'} ({stop_reason}){elapsed}",
        f"generated {audit.generated_count} numbers (sum {audit.generated_sum}), "
        f"counted {audit.counted_count} (sum {audit.counted_sum}), "
        f"{len(audit.windows)} windows totalling {audit.windows_sum}",
        f"latency from generation to count: p50 {audit.latency.p50_ms} ms, "
        f"p99 {audit.latency.p99_ms} ms, max {audit.latency.max_ms} ms",
        f"pending {audit.pending}, duplicates dropped {audit.duplicates_dropped}, "
        f"dead letters {audit.dead_lettered}: {verdict}",
    ]


class Console:
    """Prints windows as they close; on a terminal, keeps a status line below them."""

    def __init__(self, ctx: Context, out: TextIO | None = None) -> None:
        self.ctx = ctx
        self.out = out or sys.stdout
        self.live = self.out.isatty()
        self._printed = 0
        self._next_status_s = 0.0
        self._status_shown = False

    def update(self) -> None:
        """Print windows closed since the last call and refresh the status line."""
        try:
            for closed in closed_windows(self.ctx, self._printed):
                self._print(window_line(closed))
                self._printed += 1
            if self.live and time.monotonic() >= self._next_status_s:
                self._next_status_s = time.monotonic() + STATUS_EVERY_S
                self._show_status()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return  # the coordinator reports the outage; the console waits for Redis

    def print(self, line: str) -> None:
        """Print a line above the status line."""
        self._print(line)

    def _print(self, line: str) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False
        self.out.write(line + "\n")
        self.out.flush()

    def _show_status(self) -> None:
        record = run.read(self.ctx.client, self.ctx.keys)
        if record is None:
            return
        keys = self.ctx.keys
        counted = int(self.ctx.client.hget(keys.totals, "counted_count") or 0)
        open_sum = int(self.ctx.client.hget(keys.window, "sum") or 0)
        now = time.time()
        elapsed_s = max(0.0, now - record.started_at)
        left_s = max(0.0, record.deadline_at - now)
        self.out.write(
            f"\r\x1b[K{record.state}  {_mmss(elapsed_s)} elapsed, {_mmss(left_s)} left  "
            f"counted {counted}  open window sum {open_sum}"
        )
        self.out.flush()
        self._status_shown = True


def _mmss(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"
