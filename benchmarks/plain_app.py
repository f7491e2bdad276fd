"""A plain Celery app for the anchors: one no-op task, one plain interval beat entry.

Started by ``celery --app benchmarks.plain_app`` with ``PLAIN_BROKER_URL`` set to a private
Redis. It has the delivery settings aggregen uses (late acks, prefetch 1, JSON), and none of
its work: the task does nothing, the beat entry is Celery's own ``schedule``. When
``PLAIN_STAMP_KEY`` is set, each send of the beat entry appends its unix time to that list.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery
from celery.schedules import schedule
from celery.signals import before_task_publish

# A Celery app module is configured when the worker or beat imports it: the environment
# of that process is the only way in.
BROKER_URL = os.environ.get("PLAIN_BROKER_URL", "redis://127.0.0.1:6379/0")
INTERVAL_S = float(os.environ.get("PLAIN_INTERVAL_S", "1"))
STAMP_KEY = os.environ.get("PLAIN_STAMP_KEY")

app = Celery("plain", broker=BROKER_URL)
app.conf.update(
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    beat_max_loop_interval=1,
    beat_schedule={"noop": {"task": "plain.noop", "schedule": schedule(run_every=INTERVAL_S)}},
    timezone="UTC",
)


@app.task(name="plain.noop")  # type: ignore[untyped-decorator]  # Celery is untyped
def noop() -> None:
    """Do nothing: the cost measured is Celery's own."""


def _stamp_client() -> redis.Redis:
    return redis.Redis.from_url(BROKER_URL.replace("redis+socket://", "unix://"))


@before_task_publish.connect  # type: ignore[untyped-decorator]
def _stamp_send(sender: str | None = None, **_: Any) -> None:
    if STAMP_KEY and sender == "plain.noop":
        _stamp_client().rpush(STAMP_KEY, repr(time.time()))
