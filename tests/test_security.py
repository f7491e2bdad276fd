"""Secrets and transport security: TLS end to end, passwords never shown."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.errors import ConfigError
from tasks.settings import Settings, load
from tests.faults import children_of
from tests.support import (
    LiveJob,
    RedisServer,
    assert_exactly_once,
    load_report,
    run_aggregen,
    start_aggregen,
)
from tests.tls import TlsRedisServer, make_certificates

FAST = ("--duration", "2s", "--interval", "50ms", "--window", "500ms", "--generators", "2")
PASSWORD = "pw-4f8a2c9e71"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedisServer]:
    server = TlsRedisServer(tmp_path / "redis-tls", password=PASSWORD)
    server.certificates = make_certificates(tmp_path / "certs")
    server.start()
    yield server
    server.stop()


def everything_written(run_stdout: str, *texts: str) -> str:
    match = re.search(r"run directory: (\S+)", run_stdout)
    assert match
    logs = [p.read_text(errors="replace") for p in Path(match.group(1)).glob("*.log")]
    return "\n".join([run_stdout, *texts, *logs])


def test_a_whole_run_over_tls_with_client_certificates_balances(
    tmp_path: Path, tls_redis: TlsRedisServer, key_prefix: str
) -> None:
    certificates = tls_redis.certificates
    report_path = tmp_path / "report.json"

    done = run_aggregen(
        "run", *FAST, "--redis-url", tls_redis.url, "--key-prefix", key_prefix,
        "--redis-tls-ca", str(certificates.ca),
        "--redis-tls-cert", str(certificates.client_cert),
        "--redis-tls-key", str(certificates.client_key),
        "--report", str(report_path),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert_exactly_once(load_report(report_path), generators=2, ticks=40)
    assert PASSWORD not in everything_written(done.stdout, done.stderr)


def test_tls_without_the_client_certificate_is_refused_by_the_server(
    tls_redis: TlsRedisServer, key_prefix: str
) -> None:
    done = run_aggregen(
        "run", *FAST, "--redis-url", tls_redis.url, "--key-prefix", key_prefix,
        "--redis-tls-ca", str(tls_redis.certificates.ca),
    )  # fmt: skip

    assert done.returncode == 3
    assert "cannot reach Redis" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_the_password_from_a_file_is_used_and_never_shown(
    tmp_path: Path, redis_server_with_password: RedisServer, key_prefix: str
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("s3cret-pw\n")
    url = redis_server_with_password.url.replace(":s3cret-pw@", "@")
    report_path = tmp_path / "report.json"

    done = run_aggregen(
        "run", *FAST, "--redis-url", url, "--redis-password-file", str(secret),
        "--key-prefix", key_prefix, "--report", str(report_path),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert load_report(report_path)["balanced"] is True
    assert "s3cret-pw" not in everything_written(done.stdout, done.stderr)


def test_a_password_in_the_url_is_never_shown_either(
    tmp_path: Path, redis_server_with_password: RedisServer, key_prefix: str
) -> None:
    done = run_aggregen(
        "run", *FAST, "--redis-url", redis_server_with_password.url, "--verbose",
        "--key-prefix", key_prefix,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "s3cret-pw" not in everything_written(done.stdout, done.stderr)
    assert ":**@" in done.stderr or ":***@" in done.stderr, "the URL is shown, masked"


def test_tls_files_with_a_plain_url_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a rediss:// URL"):
        load({"AGGREGEN_REDIS_URL": "redis://h/0", "AGGREGEN_REDIS_TLS_CA": "/etc/hostname"})


def test_an_unreadable_password_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot read /nonexistent/secret"):
        load({"AGGREGEN_REDIS_PASSWORD_FILE": "/nonexistent/secret"})


def test_the_password_file_goes_into_the_connection_url_only(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("p@ss:word\n")
    settings = Settings(redis_url="redis://app@db:6379/0", redis_password_file=str(secret))

    assert settings.connection_url() == "redis://app:p%40ss%3Aword@db:6379/0"
    assert "p@ss" not in str(settings.to_env())
    assert dataclasses.replace(settings, redis_password_file=None).connection_url() == (
        "redis://app@db:6379/0"
    )


def listening_inodes() -> set[str]:
    """Socket inodes of every TCP and UDP socket listening on this machine."""
    inodes = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if table.startswith("udp") or fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def test_a_local_run_listens_on_no_network_port() -> None:
    job = LiveJob(start_aggregen("run", *FAST))
    try:
        job.wait_for_line("started:")
        tree = [job.process.pid]
        for pid in tree:
            tree += children_of(pid)
        listening = listening_inodes()
        exposed = {pid: socket_inodes(pid) & listening for pid in tree}
    finally:
        job.signal(signal.SIGINT)
        job.finish()

    assert len(tree) >= 6, "aggregen, Redis, two workers with pools, beat"
    assert all(not inodes for inodes in exposed.values()), exposed
