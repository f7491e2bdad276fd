"""The anchors: plain Celery (beat interval drift, no-op throughput) and plain Redis."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from benchmarks import procs
from benchmarks.job import REPO
from benchmarks.redis_server import PrivateRedis
from benchmarks.stats import percentile

STAMP_KEY = "plain:sent"


def _celery(redis_server: PrivateRedis, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "PLAIN_BROKER_URL": redis_server.socket_url, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "benchmarks.plain_app", *args],
        cwd=REPO,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    seen = {pid: procs.started_at(pid) for pid in procs.tree(process.pid)}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        procs.kill_tree(procs.still_same(seen))
        process.wait(timeout=10)
    procs.wait_gone(procs.still_same(seen), timeout_s=10)
    procs.kill_tree(procs.still_same(seen))


def beat_send_times(interval_s: float, duration_s: float) -> list[float]:
    """Unix times at which plain beat sent a ``schedule(interval_s)`` entry over a run."""
    with PrivateRedis() as server, tempfile.TemporaryDirectory() as tmp:
        schedule_file = str(Path(tmp) / "beat-schedule")
        env = {"PLAIN_INTERVAL_S": repr(interval_s), "PLAIN_STAMP_KEY": STAMP_KEY}
        beat = _celery(
            server, "beat", "--schedule", schedule_file, "--loglevel", "WARNING", env=env
        )
        try:
            deadline = time.monotonic() + 60 + duration_s
            client = server.client()
            # The run starts with the first send, so start-up time is not counted.
            while client.llen(STAMP_KEY) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(duration_s)
        finally:
            _stop(beat)
        return [float(stamp) for stamp in client.lrange(STAMP_KEY, 0, -1)]


def noop_throughput(messages: int, concurrency: int = 2) -> dict[str, float]:
    """Tasks/s of one plain Celery worker (prefork) draining ``messages`` no-op tasks."""
    from benchmarks import plain_app  # noqa: PLC0415 - configured from the env set here

    with PrivateRedis() as server:
        client = server.client()
        producer = plain_app.app.connection_for_write(server.socket_url)
        with producer:
            for _ in range(messages):
                plain_app.noop.apply_async(connection=producer)
        worker = _celery(
            server,
            "worker", "--pool", "prefork", "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
            env={},
        )  # fmt: skip
        try:
            return _drain_rate(client, messages)
        finally:
            _stop(worker)


def _drain_rate(client: redis.Redis, messages: int) -> dict[str, float]:
    deadline = time.monotonic() + 120
    first_s, at_first = 0.0, messages
    while time.monotonic() < deadline:
        left = int(client.llen("celery")) + int(client.hlen("unacked"))
        now = time.monotonic()
        if not first_s and left < messages:
            first_s, at_first = now, left + 1
        if first_s and left == 0:
            elapsed = max(now - first_s, 1e-6)
            return {"messages": at_first, "seconds": elapsed, "tasks_per_s": at_first / elapsed}
        time.sleep(0.01)
    return {"messages": 0, "seconds": 0.0, "tasks_per_s": 0.0}


def redis_round_trips(server: PrivateRedis, calls: int, *, unix: bool) -> dict[str, float]:
    """p50/p99/max of one INCRBY round trip with redis-py, in milliseconds."""
    client = server.client(unix=unix)
    client.ping()
    took: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        client.incrby("anchor:rtt", 1)
        took.append(time.perf_counter() - started)
    client.close()
    return {
        "calls": calls,
        "p50_ms": round(percentile(took, 0.5) * 1000, 3),
        "p99_ms": round(percentile(took, 0.99) * 1000, 3),
        "max_ms": round(max(took) * 1000, 3),
    }


def redis_pipelined_incr(server: PrivateRedis, calls: int, batch: int = 1000) -> float:
    """INCR per second from redis-py, pipelined ``batch`` at a time."""
    client = server.client()
    started = time.perf_counter()
    for _ in range(max(1, calls // batch)):
        pipe = client.pipeline(transaction=False)
        for _ in range(batch):
            pipe.incr("anchor:pipelined")
        pipe.execute()
    elapsed = time.perf_counter() - started
    client.close()
    return max(1, calls // batch) * batch / elapsed


def redis_benchmark_incr(server: PrivateRedis, requests: int) -> float | None:
    """INCR per second from ``redis-benchmark -P 32`` on the unix socket (None if absent)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    argv = [binary, "-s", str(server.socket_path), "-P", "32", "-t", "incr", "-n", str(requests)]
    out = subprocess.run([*argv, "-q"], capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r"INCR: ([\d.]+) requests per second", out.stdout)
    return float(match.group(1)) if match else None
