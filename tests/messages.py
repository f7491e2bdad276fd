"""Publishing raw messages onto a queue, the way a producer with bugs or ill intent might."""

from __future__ import annotations

import uuid
from typing import Any

from kombu import Connection, Producer


def task_message(*args: Any, **kwargs: Any) -> tuple[dict[str, Any], list[Any]]:
    """Headers and body of a Celery (protocol 2) call of ``aggregen.aggregate``."""
    message_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": "aggregen.aggregate", "id": message_id, "root_id": message_id}
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return headers, [list(args), kwargs, embed]


def publish(
    broker_url: str,
    body: Any,
    *,
    headers: dict[str, Any] | None = None,
    serializer: str | None = "json",
    content_type: str | None = None,
    queue: str = "aggregate",
) -> None:
    """Put one message on ``queue``; a bytes body with ``serializer=None`` goes as it is."""
    with Connection(broker_url) as connection:
        producer = Producer(connection)
        options: dict[str, Any] = {}
        if serializer is None:
            options = {"content_type": content_type, "content_encoding": "utf-8"}
        producer.publish(
            body,
            exchange="",
            routing_key=queue,
            headers=headers or {},
            serializer=serializer,
            **options,
        )


def publish_call(broker_url: str, *args: Any, **kwargs: Any) -> str:
    """Publish a well-formed JSON call of the aggregate task; returns its message id."""
    headers, body = task_message(*args, **kwargs)
    publish(broker_url, body, headers=headers)
    return str(headers["id"])
