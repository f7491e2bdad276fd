"""Typed settings, read once from ``AGGREGEN_*`` environment variables.

The command line turns its flags into the same variables, so the coordinator, beat and every
worker read one source of truth: the environment they were started with.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tasks.duration import format_duration, parse_duration_s
from tasks.errors import ConfigError

ENV_PREFIX = "AGGREGEN_"
POOLS = ("prefork", "threads", "solo", "gevent", "eventlet")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+socket")
# Where plain ``celery`` commands and the coordinator look when no URL is set.
DEFAULT_REDIS_URL = "redis://localhost:6379/0"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs; durations in seconds."""

    redis_url: str | None = None
    redis_password_file: str | None = None
    redis_tls_ca: str | None = None
    redis_tls_cert: str | None = None
    redis_tls_key: str | None = None
    duration_s: float = 600.0
    interval_s: float = 1.0
    window_s: float = 30.0
    generators: int = 1
    shard_size: int = 1000
    generate_workers: int = 1
    aggregate_workers: int = 1
    generate_concurrency: int = 1
    aggregate_concurrency: int = 2
    pool: str = "prefork"
    key_prefix: str = "aggregen"
    drain_timeout_s: float = 30.0
    redeliver_after_s: float = 10.0
    shutdown_timeout_s: float = 15.0
    verbose: bool = False

    @property
    def ticks(self) -> int:
        """Numbers each generator produces in a full run: ticks due before the deadline."""
        return max(1, math.ceil(self.duration_s / self.interval_s - 1e-9))

    @property
    def shards(self) -> int:
        """Generate tasks per tick: each covers ``shard_size`` generators."""
        return math.ceil(self.generators / self.shard_size)

    def connection_url(self) -> str:
        """The URL to connect with: the default when unset, the password file's secret in it.

        Raises ConfigError when the password file cannot be read.
        """
        url = self.redis_url or DEFAULT_REDIS_URL
        if self.redis_password_file:
            url = with_password(url, read_secret(self.redis_password_file))
        return url

    def tls_options(self) -> dict[str, Any]:
        """TLS options for redis-py and kombu (the same names); empty unless ``rediss://``."""
        if not (self.redis_url or "").startswith("rediss://"):
            return {}
        options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
        for option, path in (
            ("ssl_ca_certs", self.redis_tls_ca),
            ("ssl_certfile", self.redis_tls_cert),
            ("ssl_keyfile", self.redis_tls_key),
        ):
            if path:
                options[option] = path
        return options

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in another process."""
        return {
            _env_name(name): _render(value)
            for name, value in self._fields().items()
            if value is not None
        }

    def describe(self) -> str:
        """One line a person reads at the start of a run."""
        return (
            f"duration {format_duration(self.duration_s)}, interval "
            f"{format_duration(self.interval_s)}, window {format_duration(self.window_s)}, "
            f"{self.generators} generator(s), pool {self.pool}"
        )

    def _fields(self) -> dict[str, object]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated settings from ``environ`` (default: ``os.environ``).

    Raises ConfigError with one sentence naming the variable at fault.
    """
    source = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in dataclasses.fields(Settings):
        raw = source.get(_env_name(field.name))
        if raw is None or raw == "":
            continue
        values[field.name] = _parse(field.name, raw)
    settings = Settings(**values)  # type: ignore[arg-type]
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Raise ConfigError if the settings cannot make a sensible run."""
    if settings.window_s < settings.interval_s:
        raise ConfigError(
            f"the window ({format_duration(settings.window_s)}) must not be shorter than "
            f"the interval ({format_duration(settings.interval_s)})"
        )
    if settings.duration_s < settings.window_s:
        raise ConfigError(
            f"the duration ({format_duration(settings.duration_s)}) must not be shorter than "
            f"the window ({format_duration(settings.window_s)})"
        )
    for name in (
        "generators",
        "shard_size",
        "generate_workers",
        "aggregate_workers",
        "generate_concurrency",
        "aggregate_concurrency",
    ):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{_env_name(name)} must be at least 1")
    if settings.pool not in POOLS:
        raise ConfigError(f"unknown pool {settings.pool!r}; choose one of {', '.join(POOLS)}")
    if settings.pool in ("gevent", "eventlet") and importlib.util.find_spec(settings.pool) is None:
        raise ConfigError(f"the {settings.pool} pool needs the {settings.pool} package installed")
    if not settings.key_prefix or any(ch.isspace() for ch in settings.key_prefix):
        raise ConfigError("AGGREGEN_KEY_PREFIX must be a non-empty word")
    if settings.redis_url is not None:
        check_redis_url(settings.redis_url)
    _check_secrets(settings)


def _check_secrets(settings: Settings) -> None:
    tls_files = {
        "AGGREGEN_REDIS_TLS_CA": settings.redis_tls_ca,
        "AGGREGEN_REDIS_TLS_CERT": settings.redis_tls_cert,
        "AGGREGEN_REDIS_TLS_KEY": settings.redis_tls_key,
    }
    given = {name: path for name, path in tls_files.items() if path}
    if given and not (settings.redis_url or "").startswith("rediss://"):
        raise ConfigError(f"{', '.join(given)} set, but the Redis URL is not a rediss:// URL")
    if bool(settings.redis_tls_cert) != bool(settings.redis_tls_key):
        raise ConfigError("AGGREGEN_REDIS_TLS_CERT and AGGREGEN_REDIS_TLS_KEY go together")
    files = {**given, "AGGREGEN_REDIS_PASSWORD_FILE": settings.redis_password_file}
    for name, path in files.items():
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"{name}: cannot read {path}")


def read_secret(path: str) -> str:
    """The secret in ``path``, without surrounding whitespace."""
    try:
        with open(path, encoding="utf-8") as secret:
            return secret.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the secret in {path}: {exc.strerror}") from None


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in place of any password it has."""
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def check_redis_url(url: str) -> None:
    """Raise ConfigError unless ``url`` is a Redis URL that redis-py and kombu accept."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"malformed Redis URL {mask_url(url)!r}: {exc}") from exc
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"malformed Redis URL {mask_url(url)!r}: the scheme must be one of "
            f"{', '.join(s + '://' for s in REDIS_SCHEMES)}"
        )
    if parts.scheme in ("unix", "redis+socket"):
        if not parts.path:
            raise ConfigError(f"malformed Redis URL {mask_url(url)!r}: no socket path")
    elif not parts.hostname:
        raise ConfigError(f"malformed Redis URL {mask_url(url)!r}: no host")


def client_url(url: str) -> str:
    """The form redis-py expects (``unix://`` for a socket)."""
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


def broker_url(url: str) -> str:
    """The form kombu expects (``redis+socket://`` for a socket)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.removesuffix("_s").upper()


def _parse(name: str, raw: str) -> object:
    env_name = _env_name(name)
    field_type = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    if name.endswith("_s"):
        return parse_duration_s(raw, name=env_name)
    if field_type == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{env_name} must be a whole number, not {raw!r}") from None
    if field_type == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env_name} must be true or false, not {raw!r}")
    return raw


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value!r}s"
    return str(value)
