"""The local topology: generator workers, aggregator workers and beat as child processes.

Children run in their own session, so a Ctrl-C on the terminal reaches only ``aggregen
run``, which then stops them in order. A child that dies during the run is started again.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tasks.celery_app import app
from tasks.errors import AggregenError
from tasks.settings import Settings
from tasks.stopper import Stopper

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
TERMINATE_GRACE_S = 5.0
RESTART_BACKOFF_S = 1.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_start_s: float = 0.0

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None


class LocalTopology:
    """Starts, supervises and stops the worker and beat processes of one run."""

    def __init__(self, settings: Settings, run_dir: Path, env: dict[str, str]) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.env = env
        self.supervising = True
        host = socket.gethostname()
        self.children = [
            *(
                self._worker(f"generator{i}@{host}", "generate", settings.generate_concurrency)
                for i in range(1, settings.generate_workers + 1)
            ),
            *(
                self._worker(
                    f"aggregator{i}@{host}", "aggregate,flush", settings.aggregate_concurrency
                )
                for i in range(1, settings.aggregate_workers + 1)
            ),
            self._celery("beat", ["beat"]),
        ]

    @property
    def worker_names(self) -> list[str]:
        """Celery node names of the workers."""
        return [child.name for child in self.children if child.name != "beat"]

    def start(self) -> None:
        """Start every child."""
        for child in self.children:
            self._spawn(child)

    def wait_ready(self, stopper: Stopper) -> bool:
        """Wait until every worker answers a ping; False if a stop was asked for first.

        Raises AggregenError when a child keeps dying or the workers never answer.
        """
        expected = set(self.worker_names)
        deadline_s = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline_s:
            if stopper.reason is not None:
                return False
            for child in self.children:
                if not child.alive and child.restarts >= 2:
                    raise AggregenError(
                        f"{child.name} exited at start with code {self._code(child)}; "
                        f"see {child.log_path}"
                    )
            self.supervise()
            replies: list[dict[str, Any]] = app.control.ping(timeout=0.5) or []
            answered = {name for reply in replies for name in reply}
            if expected <= answered:
                logger.info("workers ready: %s", ", ".join(sorted(expected)))
                return True
        raise AggregenError(f"the workers did not answer within {READY_TIMEOUT_S:g}s")

    def supervise(self) -> None:
        """Start again any child that exited while it should be running."""
        if not self.supervising:
            return
        for child in self.children:
            if child.alive or time.monotonic() - child.last_start_s < RESTART_BACKOFF_S:
                continue
            child.restarts += 1
            logger.warning(
                "%s (pid %s) exited with code %s; starting it again (restart %d)",
                child.name,
                child.process.pid if child.process else "-",
                self._code(child),
                child.restarts,
            )
            self._spawn(child)

    def join(self, timeout_s: float, stopper: Stopper) -> list[str]:
        """Wait for every child to exit; returns the names still running at the bound."""
        self.supervising = False
        deadline_s = time.monotonic() + timeout_s
        while time.monotonic() < deadline_s and not stopper.forced:
            if not any(child.alive for child in self.children):
                return []
            time.sleep(0.05)
        return [child.name for child in self.children if child.alive]

    def terminate(self) -> None:
        """SIGTERM every child still running; SIGKILL whatever outlives the grace period."""
        self.supervising = False
        for child in self.children:
            if child.alive and child.process is not None:
                _signal_group(child.process, signal.SIGTERM)
        deadline_s = time.monotonic() + TERMINATE_GRACE_S
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline_s - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing it", child.name)
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()

    def _worker(self, name: str, queues: str, concurrency: int) -> Child:
        argv = [
            "worker",
            "--hostname", name,
            "--queues", queues,
            "--concurrency", str(concurrency),
            "--pool", self.settings.pool,
            "--without-gossip",
            "--without-mingle",
        ]  # fmt: skip
        return self._celery(name, argv)

    def _celery(self, name: str, argv: list[str]) -> Child:
        log_path = self.run_dir / f"{name.split('@', maxsplit=1)[0]}.log"
        command = [sys.executable, "-m", "celery", "--app", "tasks", *argv, "--loglevel", "INFO"]
        return Child(name, command, log_path)

    def _spawn(self, child: Child) -> None:
        output: IO[bytes] | None = None
        if not self.settings.verbose:
            output = child.log_path.open("ab")
        try:
            child.process = subprocess.Popen(
                child.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                # No thread of ours runs while children start, so preexec_fn is safe here.
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        finally:
            if output is not None:
                output.close()
        child.last_start_s = time.monotonic()
        logger.debug("started %s (pid %d)", child.name, child.process.pid)

    @staticmethod
    def _code(child: Child) -> int | None:
        return child.process.returncode if child.process else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if ``aggregen run`` dies, so nothing is left behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # The child leads its own session: signal the group, so its pool processes hear it too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
