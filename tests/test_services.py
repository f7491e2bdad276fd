"""The deployment shape: plain ``celery`` workers and beat, ended by ``aggregen coordinate``."""

from __future__ import annotations

from pathlib import Path

from tests.support import (
    LiveJob,
    RedisServer,
    aggregen_env,
    assert_contiguous,
    assert_exactly_once,
    celery,
    load_report,
    start_aggregen,
    wait_until_gone,
)


def test_plain_celery_services_run_and_exit_when_the_coordinator_ends_the_run(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    connection = aggregen_env(AGGREGEN_REDIS_URL=redis_server.url, AGGREGEN_KEY_PREFIX=key_prefix)
    env = aggregen_env(
        AGGREGEN_REDIS_URL=redis_server.url,
        AGGREGEN_KEY_PREFIX=key_prefix,
        AGGREGEN_DURATION="4s",
        AGGREGEN_INTERVAL="50ms",
        AGGREGEN_WINDOW="500ms",
        AGGREGEN_GENERATORS="5",
        AGGREGEN_SHARD_SIZE="2",
    )
    services = [
        celery("worker", "-Q", "generate", "-n", f"gen-{key_prefix}@%h", "-c", "2",
               env=env, log=tmp_path / "generator.log"),
        celery("worker", "-Q", "aggregate,flush", "-n", f"agg-{key_prefix}@%h", "-c", "2",
               env=env, log=tmp_path / "aggregator.log"),
        # Beat knows only where Redis is: it takes the run's shape from the run record.
        celery("beat", env=connection, log=tmp_path / "beat.log"),
    ]  # fmt: skip
    report_path = tmp_path / "report.json"

    try:
        job = LiveJob(start_aggregen("coordinate", "--report", str(report_path), env=env))
        code, stdout, stderr = job.finish(timeout_s=90)
        exits = [service.wait(timeout=20) for service in services]
    finally:
        for service in services:
            service.kill()

    assert code == 0, stderr
    report = load_report(report_path)
    assert_exactly_once(report, generators=5, ticks=80)
    assert_contiguous(report["windows"])
    assert report["tick_error_ms"]["p90"] < 300, "beat ticked at the run's 50 ms, not at 1 s"
    assert stdout.count("\nwindow ") + stdout.startswith("window ") == len(report["windows"])
    assert exits == [0, 0, 0]
    assert wait_until_gone(key_prefix, timeout_s=5) == []
    assert "window 1:" in (tmp_path / "aggregator.log").read_text(), "flush logs its sum"
    assert "beat exits" in (tmp_path / "beat.log").read_text()
