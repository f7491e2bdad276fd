"""A throw-away ``redis-server`` for the anchors: loopback port and unix socket, no disk."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from tasks.embedded import find_server

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server on 127.0.0.1:port and ``<tmp>/redis.sock``; stopped on exit."""

    def __init__(self) -> None:
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="aggregen-bench-redis-")
        self.socket_path = Path(self._tmp.name) / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def tcp_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_url(self) -> str:
        """The unix socket, in the form kombu accepts as a broker URL."""
        return f"redis+socket://{self.socket_path}"

    def client(self, *, unix: bool = True) -> redis.Redis:
        if unix:
            return redis.Redis(unix_socket_path=str(self.socket_path))
        return redis.Redis(host="127.0.0.1", port=self.port)

    def __enter__(self) -> PrivateRedis:
        argv = [
            find_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", self._tmp.name,
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(Path(self._tmp.name) / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, OSError):
                time.sleep(0.02)
        self.__exit__(None, None, None)
        raise RuntimeError("the anchor redis-server did not start")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._tmp.cleanup()


def server_version() -> str:
    """The version of the redis-server aggregen starts."""
    out = subprocess.run(
        [find_server(), "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip()
