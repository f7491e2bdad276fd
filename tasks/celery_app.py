"""The Celery application; its settings come from ``celeryconfig``."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_init

logger = logging.getLogger(__name__)

app = Celery("aggregen")
app.config_from_object("celeryconfig")


def _warm_up(**_: Any) -> None:
    """Connect each pool process to Redis, load the scripts and open the producer's connection.

    Without this, the first number a process handles also pays for connections, a script
    load and a queue declaration: milliseconds of latency from every fresh pool process.
    """
    from tasks.context import current  # noqa: PLC0415 - tasks.context needs the app first

    try:
        current().scripts.load()
        with app.producer_pool.acquire(block=True) as producer:
            producer.maybe_declare(app.amqp.queues["aggregate"])
    except (redis.RedisError, OSError, app.connection_for_write().connection_errors) as exc:
        logger.warning("could not warm up the Redis connection (%s); the first task will", exc)


worker_process_init.connect(_warm_up, weak=False)
