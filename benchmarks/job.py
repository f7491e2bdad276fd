"""``aggregen run`` in a subprocess, watched from outside: its output, Redis and processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from benchmarks import procs

REPO = Path(__file__).resolve().parent.parent
# Bound on a job's start-up (workers answering) and on its end after the deadline.
START_TIMEOUT_S = 90.0
END_GRACE_S = 120.0


class AggregenJob:
    """One ``aggregen run ARGS --report FILE``; always ends with no process left."""

    def __init__(self, *args: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="aggregen-bench-")
        self.report_path = Path(self._tmp.name) / "report.json"
        self.argv = [sys.executable, "-m", "tasks", "run", *args, "--report", str(self.report_path)]
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._seen: dict[int, int | None] = {}
        self._client: redis.Redis | None = None

    def __enter__(self) -> AggregenJob:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGEN_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout_s: float = START_TIMEOUT_S) -> str:
        """Block until a printed line contains ``text``; raises RuntimeError at the bound."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process is not None and self.process.poll() is not None:
                time.sleep(0.2)
                if not any(text in line for line in self.lines):
                    break
            time.sleep(0.02)
        raise RuntimeError(f"aggregen never printed {text!r}; output: {self.lines[-5:]}")

    def started(self) -> None:
        """Wait until the run has started (workers ready, run recorded)."""
        self.wait_for_line(" started: ")

    @property
    def run_dir(self) -> Path:
        return Path(self.wait_for_line("run directory: ").split(": ", 1)[1])

    def redis(self) -> redis.Redis:
        """A client of the job's private Redis (its unix socket)."""
        if self._client is None:
            sock = str(self.run_dir / "redis.sock")
            self._client = redis.Redis(unix_socket_path=sock, decode_responses=True)
        return self._client

    def processes(self) -> list[int]:
        """The aggregen process and all its live descendants; remembered for the cleanup."""
        pids = procs.tree(self.pid)
        for pid in pids:
            self._seen.setdefault(pid, procs.started_at(pid))
        return pids

    def exited_within(self, timeout_s: float) -> bool:
        """Whether the job exits within ``timeout_s``."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit; returns the code (SIGINT, then SIGKILL, past the bound)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.close()
            return self.process.wait(timeout=10)

    def report(self) -> dict[str, Any]:
        """The JSON report the run wrote ({} when it wrote none)."""
        if not self.report_path.exists():
            return {}
        loaded: dict[str, Any] = json.loads(self.report_path.read_text())
        return loaded

    def close(self) -> None:
        """Stop the job if it still runs, and make sure none of its processes is left."""
        if self.process is not None and self.process.poll() is None:
            self.processes()
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGINT)
                procs.kill_tree([self.pid])
                self.process.wait(timeout=10)
        # Only processes of this job: a pid seen earlier may have been reused since.
        procs.signal_all(procs.still_same(self._seen), signal.SIGCONT)
        procs.wait_gone(procs.still_same(self._seen), timeout_s=10)
        procs.kill_tree(procs.still_same(self._seen))
        if self._client is not None:
            self._client.close()
        self._tmp.cleanup()


def run_job(*args: str, duration_s: float) -> dict[str, Any]:
    """Run ``aggregen run ARGS`` to its end; returns its report and exit code."""
    with AggregenJob(*args) as job:
        code = job.wait(START_TIMEOUT_S + duration_s + END_GRACE_S)
        return {"exit_code": code, "report": job.report()}
