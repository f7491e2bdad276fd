"""The deployment spread over hosts, each service on a machine of its own, talking TCP.

Five hosts are network namespaces joined by a bridge in a sixth, "switch" namespace (see
``tests/netns.py``); the root namespace gets no address, so no traffic leaves them:

    host 1, "redis":       redis-server, --requirepass and --appendonly yes, on 10.231.0.1
    host 2, "generator":   celery beat and the generator worker
    host 3, "aggregator":  the aggregator worker (aggregate and flush queues)
    host 4, "coordinator": aggregen coordinate
    host 5, "operator":    nothing but the ``aggregen stop`` an operator types

Every service reaches Redis at ``redis://:PASSWORD@10.231.0.1:6379/0``. The test process
watches the ledger through Redis's unix socket, a file in the test's directory, so it needs
no address on the network.

What a cut of a few seconds does: the kernel keeps the aggregator's TCP connections, so its
worker neither times out nor reconnects; it goes on once TCP's retransmission, backing off
exponentially, next gets through, a few seconds after the link is back. Meanwhile the
coordinator publishes again every number pending longer than 2 s, and the aggregator drops
the second copies as duplicates.

A service manager would restart a worker that exits with an error (systemd's
``Restart=on-failure``, compose's ``restart: on-failure``), and a worker whose connection to
Redis drops can exit so (kombu's "Unrecoverable error: AttributeError ... 'hostname'", see
docs/reliability.md). The aggregator, whose link is cut, is kept running the same way here,
each restart noted in its log; beat and the generator are not, so any exit of theirs shows.

The tests need root; without it, or where ``ip netns add`` fails, they are skipped.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tasks.context import Context
from tasks.embedded import find_server
from tasks.settings import Settings
from tests.faults import FaultRow, row, wait_recovered
from tests.netns import Host, Network, NetworkUnavailableError
from tests.support import (
    REPO,
    LiveJob,
    aggregen_env,
    assert_contiguous,
    assert_exactly_once,
    load_report,
    wait_until_gone,
)

GENERATORS = 20
REDIS_PORT = 6379
READY_TIMEOUT_S = 10.0
COUNTING_TIMEOUT_S = 30.0
CUT_S = 5.0
RESTART_DELAY_S = 1.0
POLL_S = 0.1
SERVICE_EXIT_TIMEOUT_S = 30.0


class RestartOnFailure:
    """A service started again one second after any non-zero exit; exit 0 ends it."""

    def __init__(self, start: Callable[[], subprocess.Popen[bytes]], log: Path) -> None:
        self._start = start
        self._log = log
        self.process = start()
        self.failed_exits: list[int] = []
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            code = self.process.poll()
            if code == 0:
                return
            if code is not None:
                self.failed_exits.append(code)
                with self._log.open("a") as out:
                    out.write(f"[test] exited with code {code}; starting it again\n")
                if self._stopping.wait(RESTART_DELAY_S):
                    return
                self.process = self._start()

    def wait(self, timeout: float) -> int:
        """Wait for a clean exit; raise TimeoutExpired if there was none in ``timeout`` s."""
        self._watcher.join(timeout)
        if self._watcher.is_alive():
            raise subprocess.TimeoutExpired(self.process.args, timeout)
        return self.process.wait()

    def kill(self) -> None:
        """Stop restarting, and kill the current process."""
        self._stopping.set()
        self._watcher.join()
        self.process.kill()
        self.process.wait()


class Deployment:
    """Redis, beat, the workers and the coordinator, each on the host the layout gives it."""

    def __init__(self, network: Network, run_dir: Path, key_prefix: str) -> None:
        self.network = network
        self.run_dir = run_dir
        self.key_prefix = key_prefix
        self.password = secrets.token_hex(16)
        self.socket_path = run_dir / "redis.sock"
        self.report_path = run_dir / "report.json"
        self.env: dict[str, str] = {}
        self.redis_server: subprocess.Popen[bytes] | None = None
        self.services: list[subprocess.Popen[bytes]] = []
        self.aggregator: RestartOnFailure | None = None
        self.coordinator: LiveJob | None = None

    def start(self, duration: str) -> None:
        """Start Redis, then every service and the coordinator of a run of ``duration``."""
        self._start_redis()
        address = self.network["redis"].address
        self.env = aggregen_env(
            AGGREGEN_REDIS_URL=f"redis://:{self.password}@{address}:{REDIS_PORT}/0",
            AGGREGEN_KEY_PREFIX=self.key_prefix,
            AGGREGEN_DURATION=duration,
            AGGREGEN_INTERVAL="50ms",
            AGGREGEN_WINDOW="500ms",
            AGGREGEN_GENERATORS=str(GENERATORS),
            AGGREGEN_REDELIVER_AFTER="2s",
        )
        generator = self.network["generator"]
        self.services = [
            self._celery(generator, "worker", "-Q", "generate", "-n", "gen@%h", "-c", "1"),
            self._celery(generator, "beat"),
        ]
        aggregator = self.network["aggregator"]
        self.aggregator = RestartOnFailure(
            lambda: self._celery(aggregator, "worker", "-Q", "aggregate,flush", "-n", "agg@%h"),
            log=self.run_dir / "aggregator-worker.log",
        )
        argv = [sys.executable, "-m", "tasks", "coordinate", "--report", str(self.report_path)]
        self.coordinator = LiveJob(
            subprocess.Popen(
                self.network["coordinator"].command(argv),
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )

    def watch(self) -> Context:
        """A client of the test's own on Redis, through its unix socket."""
        url = f"unix://:{self.password}@{self.socket_path}"
        return Context.build(Settings(redis_url=url, key_prefix=self.key_prefix))

    def wait_counting(self, ctx: Context) -> None:
        """Block until the aggregator has counted numbers."""
        deadline_s = time.monotonic() + COUNTING_TIMEOUT_S
        while int(ctx.client.hget(ctx.keys.totals, "counted_count") or 0) == 0:
            assert time.monotonic() < deadline_s, "nothing was counted"
            time.sleep(POLL_S)

    def finish(self) -> tuple[int, str, str, list[int]]:
        """Wait for the coordinator, then the services: its code, stdout, stderr, their codes."""
        assert self.coordinator is not None and self.aggregator is not None
        code, stdout, stderr = self.coordinator.finish(timeout_s=90)
        (self.run_dir / "coordinator.log").write_text(f"{stdout}\n{stderr}")
        services: list[Any] = [*self.services, self.aggregator]
        exits = [service.wait(timeout=SERVICE_EXIT_TIMEOUT_S) for service in services]
        return code, stdout, stderr, exits

    def processes_left(self) -> list[int]:
        """Pids of whatever still runs on the hosts other than Redis's."""
        hosts = [host for host in self.network.hosts.values() if host.name != "redis"]
        return [pid for host in hosts for pid in host.pids()]

    def stop_everything(self) -> None:
        """Kill whatever still runs, Redis last."""
        if self.coordinator is not None:
            self.coordinator.process.kill()
            self.coordinator.process.wait()
        if self.aggregator is not None:
            self.aggregator.kill()
        for process in [*self.services, self.redis_server]:
            if process is not None:
                process.kill()
                process.wait()

    def _start_redis(self) -> None:
        data_dir = self.run_dir / "redis"
        data_dir.mkdir()
        argv = [
            find_server(),
            "--bind", self.network["redis"].address,
            "--port", str(REDIS_PORT),
            "--requirepass", self.password,
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--dir", str(data_dir),
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
        ]  # fmt: skip
        host = self.network["redis"]
        self.redis_server = host.start(argv, env=aggregen_env(), log=self.run_dir / "redis.log")
        deadline_s = time.monotonic() + READY_TIMEOUT_S
        with redis.Redis(unix_socket_path=str(self.socket_path), password=self.password) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline_s, "redis-server did not start"
                    time.sleep(0.02)

    def _celery(self, host: Host, *args: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", "tasks", *args, "--loglevel", "INFO"]
        name = f"{host.name}-{args[0]}.log"
        return host.start(argv, env=self.env, log=self.run_dir / name)


@pytest.fixture
def deployment(tmp_path: Path, key_prefix: str) -> Iterator[Deployment]:
    """A network of five hosts, and a deployment on it that the test starts."""
    network = Network(["redis", "generator", "aggregator", "coordinator", "operator"])
    try:
        network.build()
    except NetworkUnavailableError as exc:
        pytest.skip(f"no multi-host network: {exc}")
    deployed = Deployment(network, tmp_path, key_prefix)
    try:
        yield deployed
    finally:
        deployed.stop_everything()
        network.destroy()


def test_aggregator_host_cut_off_for_seconds_loses_nothing_and_counts_nothing_twice(
    deployment: Deployment, fault_rows: list[FaultRow]
) -> None:
    deployment.start(duration="20s")
    ctx = deployment.watch()
    deployment.wait_counting(ctx)
    time.sleep(1.0)

    aggregator = deployment.network["aggregator"]
    cut_at = time.time()
    aggregator.cut_link()
    time.sleep(CUT_S)
    aggregator.restore_link()
    restored_at = time.time()
    # From the cut until every number generated before the link came back was counted.
    recovery_s = restored_at - cut_at + wait_recovered(ctx, restored_at)
    code, stdout, stderr, exits = deployment.finish()

    assert code == 0, f"{stdout}\n{stderr}"
    assert "(deadline)" in stdout
    report = load_report(deployment.report_path)
    result = row(
        "aggregator host's link cut",
        f"ip link set down on the aggregator host's veth for {CUT_S:g} s, then up; "
        "Redis, generator and coordinator on hosts of their own",
        report, GENERATORS, recovery_s,
    )  # fmt: skip
    fault_rows.append(result)
    assert report["settings"]["ticks"] == 400, "every tick due before the deadline"
    assert_exactly_once(report, GENERATORS, report["settings"]["ticks"])
    assert_contiguous(report["windows"])
    assert exits == [0, 0, 0]
    assert wait_until_gone(deployment.key_prefix, timeout_s=5) == []
    assert deployment.processes_left() == []


def test_stop_from_another_host_ends_the_whole_deployment_gracefully(
    deployment: Deployment,
) -> None:
    deployment.start(duration="60s")
    ctx = deployment.watch()
    deployment.wait_counting(ctx)
    time.sleep(2.0)

    operator = deployment.network["operator"]
    asked_at = time.monotonic()
    argv = [sys.executable, "-m", "tasks", "stop"]
    asked = operator.run(argv, env=deployment.env, timeout_s=30)
    code, stdout, stderr, exits = deployment.finish()
    ended_s = time.monotonic() - asked_at

    assert asked.returncode == 0, asked.stderr
    assert "asked run" in asked.stdout
    assert code == 0, f"{stdout}\n{stderr}"
    assert f"stop requested (aggregen stop from {operator.hostname}" in stdout
    report = load_report(deployment.report_path)
    ticks = report["settings"]["ticks"]
    assert 0 < ticks < 1200, "the run ended before its deadline"
    assert_exactly_once(report, GENERATORS, ticks)
    assert_contiguous(report["windows"])
    assert exits == [0, 0, 0]
    assert wait_until_gone(deployment.key_prefix, timeout_s=5) == []
    assert deployment.processes_left() == []
    assert ended_s < 30, f"the deployment took {ended_s:.1f}s to end"
