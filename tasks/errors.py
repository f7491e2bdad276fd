"""The exceptions aggregen raises; a caller catches the subclass it can act on."""

from __future__ import annotations


class AggregenError(Exception):
    """Root of every error aggregen raises on purpose."""


class ConfigError(AggregenError):
    """A setting or command-line option is missing, malformed or out of range."""


class RedisUnavailableError(AggregenError):
    """Redis cannot be reached, or refused the credentials given."""
