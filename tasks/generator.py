"""Generators: on every tick, each generator of a shard produces one number.

Generation is driven by the run's grid, not by when beat happened to fire: a call produces
every tick that is due and not yet produced, so a late or lost beat tick is caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from celery.utils.log import get_task_logger
from kombu.exceptions import OperationalError

from tasks import run
from tasks.aggregator import aggregate
from tasks.celery_app import app
from tasks.context import Context, current
from tasks.number import Number, value_for
from tasks.run import RunRecord

logger = get_task_logger(__name__)

# Numbers recorded by one script call; bounds how long one call holds Redis.
MAX_NUMBERS_PER_CALL = 5000
# Script calls in one generate call (lost races included); the next call goes on from there.
MAX_ROUNDS_PER_CALL = 20
# Numbers carried by one aggregate message.
MAX_NUMBERS_PER_MESSAGE = 1000
# A generate task that starts this little before its tick is due waits for it.
EARLY_WAIT_MAX_S = 0.05

Publisher = Callable[[Sequence[Number]], None]

# Outcomes of generate.lua other than a count (see the script).
_CURSOR_MOVED = -3
_PAST_END_TICK = -4


@app.task(name="aggregen.generate")
def generate(shard: int) -> int:
    """Produce every due number of one shard; returns how many were produced."""
    return catch_up(current(), shard, publish)


def publish(numbers: Sequence[Number]) -> None:
    """Send numbers to the aggregate queue, a bounded batch per message."""
    for start in range(0, len(numbers), MAX_NUMBERS_PER_MESSAGE):
        batch = numbers[start : start + MAX_NUMBERS_PER_MESSAGE]
        aggregate.apply_async(args=[[number.to_message() for number in batch]])


def catch_up(ctx: Context, shard: int, publisher: Publisher) -> int:
    """Record and publish every due, not yet produced number of ``shard``.

    Safe to call from several processes at once: the ledger script lets one of them record
    a tick, the others find it taken and move on.
    """
    produced = 0
    # Ticks due by the first look are this call's; later ones belong to the next call.
    horizon_s: float | None = None
    for _ in range(MAX_ROUNDS_PER_CALL):
        record = run.read(ctx.client, ctx.keys)
        if record is None or record.state == run.FINISHED or shard >= record.shards:
            return produced
        cursor = int(ctx.client.hget(ctx.keys.cursors, str(shard)) or 0)
        if horizon_s is None:
            horizon_s = _wait_if_nearly_due(record, cursor)
        target = _target_tick(record, shard, cursor, horizon_s)
        if target <= cursor:
            return produced
        now = time.time()
        numbers = _numbers(record, shard, range(cursor, target), now)
        outcome = _record(
            ctx, record=record, shard=shard, cursor=cursor, target=target, numbers=numbers, now=now
        )
        if outcome in (_CURSOR_MOVED, _PAST_END_TICK):  # look again at the run and cursor
            continue
        if outcome < 0:
            return produced
        produced += outcome
        _publish_or_leave_pending(publisher, numbers, record, shard)
    return produced


def _wait_if_nearly_due(record: RunRecord, cursor: int) -> float:
    now = time.time()
    if cursor < record.end_tick:
        early_by_s = record.tick_due_at(cursor) - now
        if 0 < early_by_s <= EARLY_WAIT_MAX_S:
            time.sleep(early_by_s)
            now = time.time()
    return now


def _target_tick(record: RunRecord, shard: int, cursor: int, now: float) -> int:
    per_tick = max(1, len(record.shard_generators(shard)))
    max_ticks = max(1, MAX_NUMBERS_PER_CALL // per_tick)
    return min(record.due_ticks(now), cursor + max_ticks)


def _numbers(record: RunRecord, shard: int, ticks: range, now: float) -> list[Number]:
    return [
        Number(record.id, generator, tick, value_for(record.id, generator, tick), now)
        for tick in ticks
        for generator in record.shard_generators(shard)
    ]


def _record(
    ctx: Context,
    *,
    record: RunRecord,
    shard: int,
    cursor: int,
    target: int,
    numbers: Sequence[Number],
    now: float,
) -> int:
    args: list[str | int] = [record.id, shard, cursor, target, repr(now)]
    args.append(sum(number.value for number in numbers))
    args.append(target - cursor)
    args += (max(0, int((now - record.tick_due_at(tick)) * 1000)) for tick in range(cursor, target))
    args.append("\n".join(f"{number.id} {number.ledger_entry()}" for number in numbers))
    keys = ctx.keys
    result = ctx.scripts.generate(
        keys=[
            keys.run,
            keys.cursors,
            keys.pending,
            keys.pending_since,
            keys.totals,
            keys.tick_error_ms,
        ],
        args=args,
    )
    return int(result)


def _publish_or_leave_pending(
    publisher: Publisher, numbers: Sequence[Number], record: RunRecord, shard: int
) -> None:
    try:
        publisher(numbers)
    except (OperationalError, OSError) as exc:
        logger.warning(
            "run %s shard %d: could not publish %d numbers (%s); they stay in the ledger "
            "and the coordinator publishes them again",
            record.id,
            shard,
            len(numbers),
            exc,
        )
