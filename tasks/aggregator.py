"""Aggregators: count each number into the open window, exactly once.

A message carries a batch of numbers. Each well-formed number is counted by one Lua script
that takes it out of the ledger of pending numbers and adds it to the window in the same
step; anything malformed is kept aside as a dead letter with the reason.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Task
from celery.utils.log import get_task_logger

from tasks import deadletter
from tasks.celery_app import app
from tasks.context import Context, current
from tasks.number import InvalidNumberError, Number, parse

logger = get_task_logger(__name__)

_STALE_RUN = -1
_RUN_CLOSED = -2


@dataclass
class Tally:
    """What one message added up to."""

    counted: int = 0
    value_sum: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    not_counted: int = 0


@app.task(name="aggregen.aggregate", bind=True)
def aggregate(self: Task, *args: Any, **kwargs: Any) -> None:
    """Count a batch of numbers: ``aggregate([number, ...])``.

    The signature takes anything, so that a message of the wrong shape reaches the dead
    letters with its reason instead of failing inside Celery and vanishing.
    """
    ctx = current()
    message_id = str(self.request.id)
    if kwargs or len(args) != 1 or not isinstance(args[0], list):
        reason = "expected exactly one positional argument, a list of numbers"
        deadletter.put(ctx, message_id, 0, {"args": list(args), "kwargs": kwargs}, reason)
        return
    try:
        count_message(ctx, message_id, args[0])
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning(
            "message %s not counted, Redis is unavailable (%s); its numbers stay pending and "
            "the coordinator publishes them again",
            message_id,
            exc,
        )


def count_message(ctx: Context, message_id: str, items: Sequence[object]) -> Tally:
    """Validate and count one message's items; malformed ones become dead letters."""
    tally = Tally()
    by_run: dict[str, list[tuple[int, Number]]] = defaultdict(list)
    for position, item in enumerate(items):
        try:
            number = parse(item)
        except InvalidNumberError as exc:
            tally.dead_lettered += deadletter.put(ctx, message_id, position, item, str(exc))
            continue
        by_run[number.run].append((position, number))
    for run_id, numbers in by_run.items():
        _count_run(ctx, message_id, run_id, numbers, tally)
    return tally


def _count_run(
    ctx: Context,
    message_id: str,
    run_id: str,
    numbers: list[tuple[int, Number]],
    tally: Tally,
) -> None:
    keys = ctx.keys
    lines = "\n".join(f"{number.id} {number.value}" for _, number in numbers)
    args = [run_id, repr(time.time()), lines]
    status, counted, value_sum, duplicates, mismatched, unknown, still_pending = ctx.scripts.count(
        keys=[
            keys.run,
            keys.cursors,
            keys.pending,
            keys.pending_since,
            keys.window,
            keys.totals,
            keys.latency_ms,
        ],
        args=args,
    )
    if status == _STALE_RUN:
        for position, number in numbers:
            reason = f"number of run {run_id}, which is not the active run"
            tally.dead_lettered += deadletter.put(
                ctx, message_id, position, number.to_message(), reason
            )
        return
    if status == _RUN_CLOSED:
        tally.duplicates += duplicates
        tally.not_counted += still_pending
        if still_pending:
            logger.warning(
                "message %s: %d numbers of run %s arrived after its last window; not counted",
                message_id,
                still_pending,
                run_id,
            )
        return
    tally.counted += counted
    tally.value_sum += value_sum
    tally.duplicates += duplicates
    rejected = [(p, "value differs from the value generated") for p in mismatched]
    rejected += [(p, "no such number was generated") for p in unknown]
    for pair_position, reason in rejected:
        position, number = numbers[pair_position - 1]
        tally.dead_lettered += deadletter.put(
            ctx, message_id, position, number.to_message(), reason
        )
    if duplicates:
        logger.info("message %s: dropped %d numbers counted before", message_id, duplicates)
