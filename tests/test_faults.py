"""Faults during a live run, checked the way Jepsen checks: against every number that must exist.

Each test injects one fault into a real run (real Redis, real workers, real signals), lets the
run finish, and compares the printed windows with the numbers each generator had to produce:
nothing lost, nothing counted twice. It also measures how long it took until every number
generated before the fault had been counted.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from tasks.context import Context
from tasks.settings import Settings
from tests.faults import FAST, FaultRow, FaultyRun, children_of, cmdline, row, wait_recovered
from tests.support import (
    LiveJob,
    RedisServer,
    aggregen_env,
    celery,
    load_report,
    run_aggregen,
    start_aggregen,
)

GENERATORS = 20
SHAPE = ("--duration", "8s", "--generators", str(GENERATORS))


def assert_nothing_lost_or_doubled(result: FaultRow, report: dict[str, object]) -> None:
    assert result.lost == 0
    assert result.counted_twice == 0
    assert report["balanced"] is True


def test_pool_child_killed_while_counting(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE, "--aggregate-concurrency", "2")
    run.wait_counting()

    for _ in range(3):
        child = run.pool("aggregator1")[0]
        os.kill(child, signal.SIGSTOP)  # let it be handed a message it never finishes
        time.sleep(0.5)
        os.kill(child, signal.SIGKILL)
        fault_at = time.time()
        time.sleep(0.5)
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "prefork child killed while counting",
        "SIGSTOP, then SIGKILL 0.5 s later, to a pool process of the aggregator; 3 times",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_whole_aggregator_killed_its_numbers_are_counted_within_seconds(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE, "--aggregate-workers", "2")
    run.wait_counting()

    run.kill_worker("aggregator1", signal.SIGSTOP)  # it holds what it took off the queue
    time.sleep(0.5)
    run.kill_worker("aggregator1", signal.SIGKILL)
    fault_at = time.time()
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "whole aggregator worker killed",
        "SIGSTOP, then SIGKILL 0.5 s later, to the main process and pool of one of two aggregators",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)
    assert recovery_s < 15, "redelivery must take seconds, not the visibility timeout"
    assert re.search(r"aggregator1@\S+ \(pid \d+\) exited .* starting it again", run.stderr)


def test_generator_killed_mid_tick_its_ticks_exist_once(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE)
    run.wait_counting()

    run.kill_worker("generator1", signal.SIGSTOP)
    time.sleep(0.5)
    run.kill_worker("generator1", signal.SIGKILL)
    fault_at = time.time()
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "generator worker killed mid-tick",
        "SIGSTOP, then SIGKILL 0.5 s later, to the generator worker and its pool",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)
    assert "generator1@" in run.stderr and "starting it again" in run.stderr


def test_one_worker_shut_down_warm_while_the_rest_go_on(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE, "--aggregate-workers", "2")
    run.wait_counting()

    fault_at = time.time()
    os.kill(run.worker("aggregator1"), signal.SIGTERM)
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "one worker shut down warm",
        "SIGTERM to one of two aggregators (it is started again)",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_redis_restarted_gracefully(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE)
    run.wait_counting()

    fault_at = time.time()
    redis_server.stop(signal.SIGTERM)
    redis_server.start()
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "Redis restarted",
        "SIGTERM to redis-server, started again on the same port and append-only file",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_redis_killed_and_restarted_loses_nothing_with_the_append_only_file(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE)
    run.wait_counting()

    fault_at = time.time()
    redis_server.stop(signal.SIGKILL)
    redis_server.start()
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "Redis killed",
        "SIGKILL to redis-server (appendfsync everysec), started again on the same file",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_redis_unreachable_for_seconds_the_ticks_due_meanwhile_are_caught_up(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE)
    run.wait_counting()
    assert redis_server.process is not None

    fault_at = time.time()
    redis_server.process.send_signal(signal.SIGSTOP)
    time.sleep(4)
    redis_server.process.send_signal(signal.SIGCONT)
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(
        "Redis unreachable for 4 s",
        "SIGSTOP to redis-server, SIGCONT 4 s later",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_embedded_redis_killed_is_started_again_by_the_run(
    tmp_path: Path, fault_rows: list[FaultRow]
) -> None:
    report_path = tmp_path / "report.json"
    job = LiveJob(start_aggregen("run", *SHAPE, *FAST, "--report", str(report_path)))
    job.wait_for_line("started:")
    run_dir = job.wait_for_line("run directory:").split(": ", 1)[1]
    ctx = Context.build(Settings(redis_url=f"unix://{run_dir}/redis.sock"))
    time.sleep(1)

    server = next(p for p in children_of(job.process.pid) if "redis-server" in cmdline(p)[0])
    fault_at = time.time()
    os.kill(server, signal.SIGKILL)
    recovery_s = wait_recovered(ctx, fault_at)
    code, _, stderr = job.finish()

    assert code == 0, stderr
    report = load_report(report_path)
    result = row(
        "private Redis of aggregen run killed",
        "SIGKILL to the embedded redis-server; the run starts it again",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)
    assert "the embedded Redis" in stderr and "starting it again" in stderr


def test_coordinator_killed_a_new_one_resumes_the_run_and_stop_still_ends_it(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    env = aggregen_env(
        AGGREGEN_REDIS_URL=redis_server.url,
        AGGREGEN_KEY_PREFIX=key_prefix,
        AGGREGEN_DURATION="60s",
        AGGREGEN_INTERVAL="50ms",
        AGGREGEN_WINDOW="500ms",
        AGGREGEN_GENERATORS=str(GENERATORS),
        AGGREGEN_REDELIVER_AFTER="2s",
    )
    services = [
        celery("worker", "-Q", "generate", "-n", f"g-{key_prefix}@%h", env=env,
               log=tmp_path / "generator.log"),
        celery("worker", "-Q", "aggregate,flush", "-n", f"a-{key_prefix}@%h", env=env,
               log=tmp_path / "aggregator.log"),
        celery("beat", env=env, log=tmp_path / "beat.log"),
    ]  # fmt: skip
    report_path = tmp_path / "report.json"
    try:
        first = LiveJob(start_aggregen("coordinate", env=env))
        started = first.wait_for_line("started:")
        time.sleep(1.5)
        first.process.kill()
        first.finish()
        killed_at = time.time()
        time.sleep(1.0)

        second = LiveJob(start_aggregen("coordinate", "--report", str(report_path), env=env))
        resumed = second.wait_for_line("resumed")
        recovery_s = time.time() - killed_at
        time.sleep(1.0)
        asked = run_aggregen("stop", env=env)
        code, _, stderr = second.finish()
        exits = [service.wait(timeout=30) for service in services]
    finally:
        for service in services:
            service.kill()

    assert asked.returncode == 0
    assert code == 0, stderr
    assert started.split()[1] == resumed.split()[1], "the same run goes on"
    assert exits == [0, 0, 0]
    report = load_report(report_path)
    result = row(
        "coordinator killed",
        "SIGKILL to aggregen coordinate; a new one started 1 s later, then aggregen stop",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)


def test_beat_killed_is_started_again_and_no_tick_is_missing(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str, fault_rows: list[FaultRow]
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE)
    run.wait_counting()

    beat = next(p for p in children_of(run.job.process.pid) if "beat" in cmdline(p))
    os.kill(beat, signal.SIGKILL)
    fault_at = time.time()
    time.sleep(0.1)  # a generate task already queued may still run
    recovery_s = run.wait_generation_resumed(fault_at)
    report = run.finish()

    result = row(
        "beat killed",
        "SIGKILL to celery beat; the run starts it again and the ticks it missed are caught up",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)
    assert re.search(r"beat \(pid \d+\) exited .* starting it again", run.stderr)
