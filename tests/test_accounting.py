"""The ledger, the count and the flush against a real Redis, raced by real threads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tasks import ledger, report, run, window
from tasks.aggregator import count_message
from tasks.context import Context
from tasks.generator import catch_up
from tasks.number import Number, value_for
from tasks.run import RunRecord
from tasks.settings import Settings
from tests.support import RedisServer

GENERATORS = 40
TICKS = 50


@pytest.fixture
def ctx(redis_server: RedisServer, key_prefix: str) -> Iterator[Context]:
    settings = Settings(
        redis_url=redis_server.url,
        key_prefix=key_prefix,
        duration_s=TICKS * 0.01,
        interval_s=0.01,
        window_s=0.01,
        generators=GENERATORS,
        shard_size=16,
    )
    context = Context.build(settings)
    yield context
    context.client.close()


def start_past_run(ctx: Context) -> RunRecord:
    """A run whose every tick is already due."""
    return run.new_run(ctx.client, ctx.keys, ctx.settings, started_at=time.time() - 60)


def generate_everything(ctx: Context, record: RunRecord) -> list[Number]:
    published: list[Number] = []
    for shard in range(record.shards):
        catch_up(ctx, shard, published.extend)
    return published


def messages(numbers: list[Number], size: int) -> list[list[object]]:
    return [
        [number.to_message() for number in numbers[start : start + size]]
        for start in range(0, len(numbers), size)
    ]


def test_every_generator_gets_every_tick_once_with_its_fixed_value(ctx: Context) -> None:
    record = start_past_run(ctx)

    numbers = generate_everything(ctx, record)

    assert len(numbers) == GENERATORS * TICKS
    assert len({number.id for number in numbers}) == len(numbers)
    for number in numbers:
        assert number.value == value_for(record.id, number.generator, number.tick)


def test_generate_racing_itself_records_each_tick_once(ctx: Context) -> None:
    record = start_past_run(ctx)
    published: list[Number] = []
    lock = threading.Lock()

    def publish(batch: object) -> None:
        with lock:
            published.extend(batch)  # type: ignore[arg-type]

    racers = [
        threading.Thread(target=catch_up, args=(ctx, shard, publish))
        for shard in range(record.shards)
        for _ in range(4)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    audit = report.take(ctx)
    assert audit.generated_count == len(published) == GENERATORS * TICKS
    assert len({number.id for number in published}) == GENERATORS * TICKS


def test_flush_racing_concurrent_counts_puts_each_number_in_exactly_one_window(
    ctx: Context,
) -> None:
    record = start_past_run(ctx)
    numbers = generate_everything(ctx, record)
    batches = messages(numbers, 20) * 2  # every number delivered twice
    random.Random(7).shuffle(batches)
    counting_done = threading.Event()

    def count(share: list[list[object]], worker: int) -> None:
        for position, batch in enumerate(share):
            count_message(ctx, f"w{worker}-m{position}", batch)

    def flush_repeatedly() -> None:
        flushes = 0
        while not counting_done.is_set():
            window.close(ctx, flush_id=f"flush-{flushes}", final=False)
            flushes += 1
            time.sleep(0.006)

    counters = [threading.Thread(target=count, args=(batches[i::4], i)) for i in range(4)]
    flusher = threading.Thread(target=flush_repeatedly)
    flusher.start()
    for counter in counters:
        counter.start()
    for counter in counters:
        counter.join()
    counting_done.set()
    flusher.join()
    window.close(ctx, flush_id="final", final=True)

    audit = report.take(ctx)
    assert audit.pending == 0
    assert audit.counted_count == audit.windows_count == GENERATORS * TICKS
    assert audit.counted_sum == audit.windows_sum == audit.generated_sum
    assert audit.duplicates_dropped == GENERATORS * TICKS
    assert audit.balanced
    busy = [w for w in audit.windows if 0 < w.count < GENERATORS * TICKS]
    assert len(busy) >= 3, "the flushes should have cut through the counting"


def test_a_redelivered_flush_does_not_close_a_second_window(ctx: Context) -> None:
    start_past_run(ctx)

    first = window.close(ctx, flush_id="beat-1", final=False)
    time.sleep(0.02)
    again = window.close(ctx, flush_id="beat-1", final=False)

    assert first is not None
    assert again is None
    assert len(report.take(ctx).windows) == 1


def test_nothing_is_counted_or_flushed_after_the_final_flush(ctx: Context) -> None:
    record = start_past_run(ctx)
    numbers = generate_everything(ctx, record)
    count_message(ctx, "early", messages(numbers[:10], 10)[0])

    window.close(ctx, flush_id="final", final=True)
    late = count_message(ctx, "late", messages(numbers[5:20], 15)[0])

    assert late.counted == 0
    assert late.not_counted == 10, "numbers 10..19 were never counted"
    assert late.duplicates == 5, "numbers 5..9 were counted before the final flush"
    assert window.close(ctx, flush_id="after", final=False, now=time.time() + 60) is None
    audit = report.take(ctx)
    assert audit.counted_count == audit.windows_count == 10
    assert audit.pending == GENERATORS * TICKS - 10
    assert not audit.balanced


operation = st.one_of(
    st.tuples(st.just("count"), st.integers(min_value=0, max_value=99)),
    st.tuples(st.just("flush"), st.integers(min_value=0, max_value=5)),
)


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=st.lists(operation, max_size=40))
def test_any_interleaving_of_counts_and_flushes_keeps_the_books_balanced(
    ctx: Context, operations: list[tuple[str, int]]
) -> None:
    record = start_past_run(ctx)
    numbers = generate_everything(ctx, record)
    batches = messages(numbers, 20)
    clock = time.time()

    for step, (kind, argument) in enumerate(operations):
        if kind == "count":
            count_message(ctx, f"m{argument}", batches[argument])
        else:
            clock += 1.0
            window.close(ctx, flush_id=f"f{step}", final=False, now=clock)
        audit = report.take(ctx)
        open_window = ctx.client.hgetall(ctx.keys.window)
        assert audit.windows_sum + int(open_window["sum"]) == audit.counted_sum
        assert audit.windows_count + int(open_window["count"]) == audit.counted_count
        assert audit.counted_count + audit.pending == audit.generated_count


def test_a_number_lost_in_transit_is_published_again_with_a_backoff(ctx: Context) -> None:
    record = start_past_run(ctx)
    lost: list[Number] = []
    catch_up(ctx, 0, lost.extend)  # published nowhere: every message was lost
    generated_at = lost[0].generated_at
    redeliver_after_s = 2.0

    def claimed_at(age_s: float) -> int:
        return len(
            ledger.claim_stale(
                ctx,
                record.id,
                now=generated_at + age_s,
                redeliver_after_s=redeliver_after_s,
                limit=100_000,
            )
        )

    # Due again after max(redelivery age, own age): at ages 2.1, then 4.5, 9.5, 19.5 here.
    ages_s = [1.9, 2.1, 4.5, 8.5, 9.5, 18.0, 19.5]
    claims = [claimed_at(age_s) for age_s in ages_s]

    every = len(lost)
    assert claims == [0, every, every, 0, every, 0, every]
