"""The whole job as a user runs it: ``aggregen run`` with real Redis, workers and beat."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import children_of, cmdline
from tests.support import (
    REPO,
    LiveJob,
    RedisServer,
    aggregen_env,
    assert_contiguous,
    assert_exactly_once,
    load_report,
    processes_mentioning,
    run_aggregen,
    start_aggregen,
    wait_until_gone,
)

FAST = ("--interval", "50ms", "--window", "500ms", "--redeliver-after", "2s")


def run_dir_of(stdout: str) -> str:
    match = re.search(r"run directory: (\S+)", stdout)
    assert match, stdout
    return match.group(1)


def test_full_run_counts_every_number_of_every_tick_exactly_once(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"

    done = run_aggregen(
        "run", "--duration", "5s", *FAST, "--generators", "3", "--report", str(report_path)
    )

    assert done.returncode == 0, done.stderr
    report = load_report(report_path)
    assert report["settings"]["ticks"] == 100
    assert_exactly_once(report, generators=3, ticks=100)
    assert_contiguous(report["windows"])
    assert len(report["windows"]) in (10, 11)
    printed = [line for line in done.stdout.splitlines() if line.startswith("window")]
    assert len(printed) == len(report["windows"])
    assert "the audit balances" in done.stdout
    run_dir = run_dir_of(done.stdout)
    assert processes_mentioning(run_dir) == [], "a worker, beat or Redis outlived the run"
    assert not Path(run_dir, "redis.sock").exists(), "the private Redis was not stopped"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_stops_gracefully_with_every_number_counted(
    tmp_path: Path, signum: signal.Signals
) -> None:
    report_path = tmp_path / "report.json"
    job = LiveJob(
        start_aggregen(
            "run", "--duration", "60s", *FAST, "--generators", "2", "--report", str(report_path)
        )
    )
    job.wait_for_line("started:")
    time.sleep(1.5)

    signalled_s = time.monotonic()
    job.signal(signum)
    code, stdout, stderr = job.finish(timeout_s=30)
    stop_took_s = time.monotonic() - signalled_s

    assert code == 0, stderr
    report = load_report(report_path)
    ticks = report["settings"]["ticks"]
    assert 20 <= ticks < 1200, "generation should have been closed at the signal"
    assert_exactly_once(report, generators=2, ticks=ticks)
    assert_contiguous(report["windows"])
    assert signum.name in stdout
    assert wait_until_gone(run_dir_of(stdout), timeout_s=3) == []
    assert stop_took_s < 15
    print(f"{signum.name}: stopped in {stop_took_s:.2f}s with {ticks} ticks per generator")


def test_second_signal_stops_faster_prints_what_was_counted_and_exits_130(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    job = LiveJob(start_aggregen("run", "--duration", "60s", *FAST, "--report", str(report_path)))
    job.wait_for_line("started:")
    time.sleep(1.0)

    job.signal(signal.SIGINT)
    time.sleep(0.1)
    job.signal(signal.SIGINT)
    code, stdout, _ = job.finish(timeout_s=30)

    assert code == 130
    assert "generated" in stdout and "counted" in stdout
    report = load_report(report_path)
    assert report["counted"]["count"] > 0
    assert sum(w["sum"] for w in report["windows"]) == report["counted"]["sum"]
    assert wait_until_gone(run_dir_of(stdout), timeout_s=3) == []


def test_stop_command_from_another_process_ends_the_run_gracefully(
    tmp_path: Path, redis_server: RedisServer, key_prefix: str
) -> None:
    report_path = tmp_path / "report.json"
    connection = ("--redis-url", redis_server.url, "--key-prefix", key_prefix)
    job = LiveJob(
        start_aggregen("run", "--duration", "60s", *FAST, *connection, "--report", str(report_path))
    )
    job.wait_for_line("started:")
    time.sleep(1.0)

    asked = run_aggregen("stop", *connection)
    code, stdout, stderr = job.finish(timeout_s=30)

    assert asked.returncode == 0, asked.stderr
    assert "asked run" in asked.stdout
    assert code == 0, stderr
    assert "stop requested" in stdout
    report = load_report(report_path)
    assert_exactly_once(report, generators=1, ticks=report["settings"]["ticks"])
    assert wait_until_gone(key_prefix, timeout_s=3) == []

    after = run_aggregen("report", "--json", *connection)
    assert after.returncode == 0
    assert '"balanced": true' in after.stdout


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_a_run_balances_on_every_pool(tmp_path: Path, pool: str) -> None:
    report_path = tmp_path / "report.json"

    done = run_aggregen(
        "run", "--duration", "2s", *FAST, "--pool", pool, "--generators", "2",
        "--report", str(report_path),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert_exactly_once(load_report(report_path), generators=2, ticks=40)


def test_on_a_terminal_a_status_line_shows_progress(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks", "run", "--duration", "2s", *FAST],
        cwd=REPO,
        env=aggregen_env(),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command exited
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)

    assert process.wait(timeout=60) == 0
    text = screen.decode()
    assert re.search(r"\r\x1b\[Krunning  00:0\d elapsed, 00:0\d left  counted \d+", text)
    assert "open window sum" in text
    assert "the audit balances" in text


def test_numbers_left_uncounted_at_the_drain_timeout_are_reported_and_exit_1(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    bounds = ("--drain-timeout", "1s", "--shutdown-timeout", "2s")
    job = LiveJob(
        start_aggregen("run", "--duration", "3s", *FAST, *bounds, "--report", str(report_path))
    )
    job.wait_for_line("started:")
    aggregator = next(
        pid for pid in children_of(job.process.pid) if "aggregator1@" in " ".join(cmdline(pid))
    )

    os.killpg(aggregator, signal.SIGSTOP)  # counting stops; generation goes on
    code, stdout, stderr = job.finish(timeout_s=60)

    assert code == 1
    assert "THE AUDIT DOES NOT BALANCE" in stdout
    assert re.search(r"\d+ numbers generated but not counted when the drain ended", stderr)
    report = load_report(report_path)
    assert report["pending"] > 0
    assert report["counted"]["count"] + report["pending"] == report["generated"]["count"]
    assert wait_until_gone(run_dir_of(stdout), timeout_s=5) == []
