"""Connections to Redis and the Lua scripts that change aggregen's state atomically."""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Mapping
from importlib import resources
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from tasks.errors import RedisUnavailableError
from tasks.settings import client_url, mask_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 10.0
SCRIPT_NAMES = ("generate", "count", "flush", "claim_stale", "close_generation")
# Over TCP, a dead link is noticed in about 30 s (keepalive probes, and a bound on data left
# unacknowledged), rather than after the kernel's default of about 15 minutes.
TCP_KEEPALIVE_OPTIONS: dict[int, int] = {
    option: value
    for name, value in (
        ("TCP_KEEPIDLE", 10),
        ("TCP_KEEPINTVL", 5),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 30_000),
    )
    if (option := getattr(socket, name, None)) is not None
}


def connect(url: str, tls_options: Mapping[str, Any] | None = None) -> redis.Redis:
    """A client for ``url`` that retries a dropped connection a few times with backoff.

    Connections are made lazily; call ``ping`` to find out whether Redis answers.
    ``tls_options`` are redis-py's ``ssl_*`` arguments for a ``rediss://`` URL.
    """
    over_tcp = url.startswith(("redis://", "rediss://"))
    keepalive = {"socket_keepalive": True, "socket_keepalive_options": TCP_KEEPALIVE_OPTIONS}
    return redis.Redis.from_url(
        client_url(url),
        **(tls_options or {}),
        **(keepalive if over_tcp else {}),
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def ping(client: redis.Redis, url: str) -> None:
    """Raise RedisUnavailableError with one sentence if Redis does not answer."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailableError(f"Redis at {mask_url(url)} refused the password") from exc
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise RedisUnavailableError(
                f"Redis at {mask_url(url)} refused the credentials: {exc}"
            ) from exc
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = str(exc).replace(url, mask_url(url))
        raise RedisUnavailableError(f"cannot reach Redis at {mask_url(url)}: {reason}") from exc


class Scripts:
    """The Lua scripts of ``tasks/lua``, registered on one client."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.generate = _register(client, "generate")
        self.count = _register(client, "count")
        self.flush = _register(client, "flush")
        self.claim_stale = _register(client, "claim_stale")
        self.close_generation = _register(client, "close_generation")

    def load(self) -> None:
        """Open a connection and load every script now, not on the first number."""
        for name in SCRIPT_NAMES:
            self._client.script_load(_source(name))


@functools.cache
def _source(name: str) -> str:
    return resources.files("tasks").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _register(client: redis.Redis, name: str) -> Script:
    # register_script falls back from EVALSHA to EVAL, so a restarted Redis needs no reload.
    return client.register_script(_source(name))
