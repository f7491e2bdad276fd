"""Fixtures: each test that needs Redis gets a server of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import FaultRow, save
from tests.support import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A key prefix no other test uses; also marks the test's processes."""
    return f"aggregen-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_server_with_password(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server that asks for the password ``s3cret-pw``."""
    server = RedisServer(tmp_path / "redis-auth", password="s3cret-pw").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_rows() -> Iterator[list[FaultRow]]:
    """Rows of the reliability table; written to build/ when the session ends."""
    rows: list[FaultRow] = []
    yield rows
    if rows:
        save(rows)
