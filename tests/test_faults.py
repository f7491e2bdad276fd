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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

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


# Each injector strikes a live run and returns the moment the fault took effect.
Injector = Callable[[FaultyRun, RedisServer], float]


def kill_pool_process_three_times(run: FaultyRun, _: RedisServer) -> float:
    for _ in range(3):
        child = run.pool("aggregator1")[0]
        os.kill(child, signal.SIGSTOP)  # let it be handed a message it never finishes
        time.sleep(0.5)
        os.kill(child, signal.SIGKILL)
        fault_at = time.time()
        time.sleep(0.5)
    return fault_at


def freeze_then_kill(worker: str) -> Injector:
    def inject(run: FaultyRun, _: RedisServer) -> float:
        run.kill_worker(worker, signal.SIGSTOP)  # it holds what it took off the queue
        time.sleep(0.5)
        run.kill_worker(worker, signal.SIGKILL)
        return time.time()

    return inject


def shut_down_warm(run: FaultyRun, _: RedisServer) -> float:
    os.kill(run.worker("aggregator1"), signal.SIGTERM)
    return time.time()


def restart_redis(signum: int) -> Injector:
    def inject(_: FaultyRun, redis_server: RedisServer) -> float:
        fault_at = time.time()
        redis_server.stop(signum)
        redis_server.start()
        return fault_at

    return inject


def pause_redis(run: FaultyRun, redis_server: RedisServer) -> float:
    assert redis_server.process is not None
    fault_at = time.time()
    redis_server.process.send_signal(signal.SIGSTOP)
    time.sleep(4)
    redis_server.process.send_signal(signal.SIGCONT)
    return fault_at


@dataclass(frozen=True)
class Fault:
    name: str
    injection: str
    inject: Injector
    options: tuple[str, ...] = ()
    restarted: str | None = None  # a worker the run must have started again


FAULTS = [
    Fault(
        "prefork child killed while counting",
        "SIGSTOP, then SIGKILL 0.5 s later, to a pool process of the aggregator; 3 times",
        kill_pool_process_three_times,
        ("--aggregate-concurrency", "2"),
    ),
    Fault(
        "whole aggregator worker killed",
        "SIGSTOP, then SIGKILL 0.5 s later, to the main process and pool of one of two aggregators",
        freeze_then_kill("aggregator1"),
        ("--aggregate-workers", "2"),
        restarted="aggregator1",
    ),
    Fault(
        "generator worker killed mid-tick",
        "SIGSTOP, then SIGKILL 0.5 s later, to the generator worker and its pool",
        freeze_then_kill("generator1"),
        restarted="generator1",
    ),
    Fault(
        "one worker shut down warm",
        "SIGTERM to one of two aggregators (it is started again)",
        shut_down_warm,
        ("--aggregate-workers", "2"),
        restarted="aggregator1",
    ),
    Fault(
        "Redis restarted",
        "SIGTERM to redis-server, started again on the same port and append-only file",
        restart_redis(signal.SIGTERM),
    ),
    Fault(
        "Redis killed",
        "SIGKILL to redis-server (appendfsync everysec), started again on the same file",
        restart_redis(signal.SIGKILL),
    ),
    Fault(
        "Redis unreachable for 4 s",
        "SIGSTOP to redis-server, SIGCONT 4 s later",
        pause_redis,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name.replace(" ", "-"))
def test_a_fault_mid_run_loses_nothing_and_counts_nothing_twice(
    fault: Fault,
    tmp_path: Path,
    redis_server: RedisServer,
    key_prefix: str,
    fault_rows: list[FaultRow],
) -> None:
    run = FaultyRun(tmp_path, redis_server, key_prefix, *SHAPE, *fault.options)
    run.wait_counting()

    fault_at = fault.inject(run, redis_server)
    recovery_s = run.wait_recovered(fault_at)
    report = run.finish()

    result = row(fault.name, fault.injection, report, GENERATORS, recovery_s)
    fault_rows.append(result)
    assert_nothing_lost_or_doubled(result, report)
    assert recovery_s < 15, "redelivery takes seconds, not kombu's visibility timeout"
    if fault.restarted:
        assert re.search(
            rf"{fault.restarted}@\S+ \(pid \d+\) exited .* starting it again", run.stderr
        )


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
