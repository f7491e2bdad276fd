"""Windows: every window the open sum is closed, printed and reset in one atomic step."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import cast

from celery import Task
from celery.utils.log import get_task_logger

from tasks.celery_app import app
from tasks.context import Context, current

logger = get_task_logger(__name__)


@dataclass(frozen=True)
class Window:
    """A closed window; times in unix seconds."""

    index: int
    opened_at: float
    closed_at: float
    sum: int
    count: int

    @classmethod
    def from_json(cls, text: str) -> Window:
        """Parse a record of the ``windows`` list."""
        raw = json.loads(text)
        return cls(
            index=int(raw["index"]),
            opened_at=float(raw["opened_at"]),
            closed_at=float(raw["closed_at"]),
            sum=int(raw["sum"]),
            count=int(raw["count"]),
        )

    def to_dict(self) -> dict[str, int | float]:
        """The form written into reports."""
        return {
            "index": self.index,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "sum": self.sum,
            "count": self.count,
        }


@app.task(name="aggregen.flush", bind=True)
def flush(self: Task) -> None:
    """Close the open window, as scheduled by beat every window."""
    closed = close(current(), flush_id=str(self.request.id), final=False)
    if closed is not None:
        logger.info(
            "window %d: sum %d of %d numbers (%.3fs)",
            closed.index,
            closed.sum,
            closed.count,
            closed.closed_at - closed.opened_at,
        )


def close(ctx: Context, *, flush_id: str, final: bool, now: float | None = None) -> Window | None:
    """Close the open window and open the next; the final close also closes the run.

    Returns None when nothing was closed: a repeated ``flush_id``, a flush less than half a
    window after the last, no run, or a run already closed.
    """
    keys = ctx.keys
    closed_at = time.time() if now is None else now
    record = ctx.scripts.flush(
        keys=[keys.run, keys.window, keys.windows, keys.flushes],
        args=[flush_id, repr(closed_at), "1" if final else "0"],
    )
    return Window.from_json(record) if record else None


def closed_windows(ctx: Context, start: int = 0) -> list[Window]:
    """Closed windows from position ``start`` on, oldest first."""
    raw = cast(list[str], ctx.client.lrange(ctx.keys.windows, start, -1))
    return [Window.from_json(text) for text in raw]
