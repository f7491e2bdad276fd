"""What a task needs in a worker process: settings, key names, a Redis client, the scripts."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import redis

from tasks import settings as settings_module
from tasks.keys import Keys
from tasks.settings import Settings
from tasks.store import Scripts, connect


@dataclass(frozen=True)
class Context:
    """Everything that touches Redis on aggregen's behalf, built once per process."""

    settings: Settings
    redis_url: str
    keys: Keys
    client: redis.Redis
    scripts: Scripts

    @classmethod
    def build(cls, settings: Settings) -> Context:
        """A context for ``settings``; the Redis URL defaults to the local server."""
        url = settings.connection_url()
        client = connect(url, settings.tls_options())
        return cls(settings, url, Keys(settings.key_prefix), client, Scripts(client))


@functools.cache
def _context_for(pid: int) -> Context:
    return Context.build(settings_module.load())


def current() -> Context:
    """This process's context, from its environment; a forked child builds its own."""
    return _context_for(os.getpid())
