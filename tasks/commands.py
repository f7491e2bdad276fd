"""What each ``aggregen`` subcommand does, once its options are parsed and checked."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
from pathlib import Path

from tasks import report, run
from tasks.console import Console, summary_lines, window_line
from tasks.context import Context
from tasks.coordinator import Coordinator
from tasks.embedded import EmbeddedRedis
from tasks.launcher import LocalTopology
from tasks.report import Audit
from tasks.run import RunRecord
from tasks.settings import Settings, mask_url
from tasks.stopper import Stopper
from tasks.store import ping

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNBALANCED = 1
EXIT_USAGE = 2
EXIT_NO_REDIS = 3
EXIT_START_FAILED = 4
EXIT_INTERRUPTED = 130


def run_local(settings: Settings, report_path: Path | None) -> int:
    """``aggregen run``: the whole topology on this machine; returns the exit code."""
    stopper = Stopper()
    stopper.install_signal_handlers()
    run_dir = Path(tempfile.mkdtemp(prefix="aggregen-"))
    _log_to(run_dir / "coordinator.log", verbose=settings.verbose)
    print(f"run directory: {run_dir}", flush=True)

    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(run_dir)
        settings = dataclasses.replace(settings, redis_url=embedded.start())
    topology: LocalTopology | None = None
    try:
        ctx = _connect(settings)
        topology = LocalTopology(settings, run_dir, {**os.environ, "PYTHONUNBUFFERED": "1"})
        topology.start()
        if not topology.wait_ready(stopper):
            print("stopped before the run started", flush=True)
            return EXIT_INTERRUPTED if stopper.forced else EXIT_OK
        console = Console(ctx)

        def progress() -> None:
            if embedded is not None:
                embedded.supervise()
            topology.supervise()
            console.update()

        coordinator = Coordinator(ctx, settings, stopper, on_progress=progress)
        record = coordinator.start()
        _announce(console, coordinator, record, settings)
        audit = coordinator.finish(record)
        console.update()

        left = topology.join(settings.shutdown_timeout_s, stopper)
        if left:
            logger.warning("still running after the warm shutdown: %s", ", ".join(left))
    finally:
        if topology is not None:
            topology.terminate()
        if embedded is not None:
            embedded.stop()
    return _conclude(audit, coordinator.stop_reason, settings, report_path, stopper)


def coordinate(settings: Settings, report_path: Path | None) -> int:
    """``aggregen coordinate``: start or resume the run, end it, join the workers."""
    stopper = Stopper()
    stopper.install_signal_handlers()
    _log_to(None, verbose=settings.verbose)
    ctx = _connect(settings)
    console = Console(ctx)
    coordinator = Coordinator(ctx, settings, stopper, on_progress=console.update)
    record = coordinator.start()
    _announce(console, coordinator, record, settings)
    audit = coordinator.finish(record)
    console.update()
    left = coordinator.join_workers(settings.shutdown_timeout_s)
    if left:
        logger.warning("still answering after the warm shutdown: %s", ", ".join(left))
    return _conclude(audit, coordinator.stop_reason, settings, report_path, stopper)


def show_report(settings: Settings, *, as_json: bool) -> int:
    """``aggregen report``: the windows and audit of the run in Redis."""
    ctx = _connect(settings)
    audit = report.take(ctx)
    if audit.run is None and not as_json:
        print(f"no run on this Redis under the key prefix {settings.key_prefix!r}")
        return EXIT_OK
    if as_json:
        print(audit.to_json(settings))
    else:
        for closed in audit.windows:
            print(window_line(closed))
        state = audit.run.state if audit.run else "no run"
        for line in summary_lines(audit, state):
            print(line)
    finished = audit.run is not None and audit.run.state == run.FINISHED
    return EXIT_UNBALANCED if finished and not audit.balanced else EXIT_OK


def request_stop(settings: Settings, reason: str) -> int:
    """``aggregen stop``: ask the active run to stop gracefully now."""
    ctx = _connect(settings)
    record = run.read(ctx.client, ctx.keys)
    if record is None or record.state == run.FINISHED:
        print("no run is active; nothing to stop")
        return EXIT_OK
    run.request_stop(ctx.client, ctx.keys, reason)
    print(f"asked run {record.id} to stop")
    return EXIT_OK


def _announce(
    console: Console, coordinator: Coordinator, record: RunRecord, settings: Settings
) -> None:
    if coordinator.resumed:
        console.print(f"run {record.id} resumed ({record.state}); it ends at its own deadline")
    else:
        console.print(f"run {record.id} started: {settings.describe()}")


def _connect(settings: Settings) -> Context:
    ctx = Context.build(settings)
    ping(ctx.client, ctx.redis_url)
    # The Celery app in this process reads the same environment as the workers.
    os.environ.update(settings.to_env())
    logger.debug("connected to Redis at %s", mask_url(ctx.redis_url))
    return ctx


def _conclude(
    audit: Audit,
    stop_reason: str,
    settings: Settings,
    report_path: Path | None,
    stopper: Stopper,
) -> int:
    for line in summary_lines(audit, stop_reason):
        print(line, flush=True)
    if report_path is not None:
        report_path.write_text(audit.to_json(settings) + "\n", encoding="utf-8")
    if stopper.forced:
        return EXIT_INTERRUPTED
    return EXIT_OK if audit.balanced else EXIT_UNBALANCED


def _log_to(log_path: Path | None, *, verbose: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose or log_path is None else logging.WARNING)
    console.setFormatter(formatter)
    root.addHandler(console)
    if log_path is not None:
        file_handler = logging.FileHandler(log_path)
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
