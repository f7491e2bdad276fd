"""Real parts for the tests: private Redis servers and ``aggregen`` in a subprocess."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tasks.embedded import find_server
from tasks.number import value_for

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own, on a loopback port, append-only file on."""

    data_dir: Path
    password: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, **self.client_options())

    def client_options(self) -> dict[str, str]:
        """Extra redis-py arguments to reach this server."""
        return {}

    def extra_arguments(self) -> list[str]:
        """Extra redis-server arguments."""
        return ["--port", str(self.port)]

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            find_server(),
            *self.extra_arguments(),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signum)
        self.process.wait(timeout=10)


class LiveJob:
    """A running ``aggregen`` command whose output is read as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the command."""
        self.process.send_signal(signum)

    def wait_for_line(self, text: str, timeout_s: float = 60) -> str:
        """Block until a line containing ``text`` was printed; return it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never printed; output so far: {self.lines}")

    def finish(self, timeout_s: float = 90) -> tuple[int, str, str]:
        """Wait for the exit; return the code, all of stdout and all of stderr."""
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        return code, "\n".join(self.lines), self.process.stderr.read()


def celery(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``celery -A tasks ARGS`` with its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", *args, "--loglevel", "INFO"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def aggregen_env(**overrides: str) -> dict[str, str]:
    """The environment for an ``aggregen`` subprocess: no stray AGGREGEN_* from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGEN_")}
    env.update(overrides)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_aggregen(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``aggregen ARGS`` as a subprocess with its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "tasks", *args],
        cwd=REPO,
        env=env or aggregen_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_aggregen(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run ``aggregen ARGS`` to the end; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        check=False,
        cwd=REPO,
        env=env or aggregen_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def processes_mentioning(marker: str) -> list[int]:
    """Pids of live processes whose command line or environment contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker.encode() in text and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until_gone(marker: str, timeout_s: float = 10) -> list[int]:
    """Wait for every process mentioning ``marker`` to end; returns those left."""
    deadline = time.monotonic() + timeout_s
    left = processes_mentioning(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_mentioning(marker)
    return left


def expected_sum(run_id: str, generators: int, ticks: int) -> int:
    """The exact sum of every number a run of this shape generates."""
    return sum(value_for(run_id, g, t) for g in range(generators) for t in range(ticks))


def load_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def assert_exactly_once(report: dict[str, Any], generators: int, ticks: int) -> None:
    """Every number of every generator's ticks was counted once and printed in one window."""
    windows = report["windows"]
    total = expected_sum(report["run"], generators, ticks)
    assert report["generated"] == {"count": generators * ticks, "sum": total}
    assert report["counted"] == report["generated"]
    assert sum(w["count"] for w in windows) == generators * ticks
    assert sum(w["sum"] for w in windows) == total
    assert report["pending"] == 0
    assert report["balanced"] is True


def assert_contiguous(windows: list[dict[str, Any]]) -> None:
    """Windows are numbered 0, 1, 2 ... and each opens when the previous one closed."""
    assert [w["index"] for w in windows] == list(range(len(windows)))
    for before, after in itertools.pairwise(windows):
        assert after["opened_at"] == before["closed_at"]
    for w in windows:
        assert w["closed_at"] > w["opened_at"]
