"""The worker's message consumer, extended so that no message vanishes unexplained.

Celery logs and drops a message it cannot decode (invalid JSON, a content type it does not
accept such as pickle or YAML) or that names no known task. This consumer first keeps such a
message as a dead letter in Redis, with the reason, then lets Celery go on as before. The
body is kept as text: it is never deserialized.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from celery.worker.consumer import Consumer

from tasks import deadletter
from tasks.context import current

logger = logging.getLogger(__name__)

# A dead letter keeps at most this much of a message body.
MAX_BODY_CHARS = 4096


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, keeping undecodable and unknown messages as dead letters."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        _keep(message, f"undecodable message ({type(exc).__name__}: {exc})")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        _keep(message, "not a Celery task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        _keep(message, f"no such task: {exc}")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        _keep(message, f"invalid task message: {exc}")
        super().on_invalid_task(body, message, exc)


def _keep(message: Any, reason: str) -> None:
    raw = message.body
    body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    headers = message.headers or {}
    message_id = str(headers.get("id") or hashlib.sha256(body.encode()).hexdigest()[:16])
    payload = {
        "content_type": message.content_type,
        "task": headers.get("task"),
        "body": body[:MAX_BODY_CHARS],
    }
    try:
        deadletter.put(current(), message_id, 0, payload, reason)
    except redis.RedisError as exc:
        logger.error("could not keep message %s as a dead letter (%s): %s", message_id, exc, reason)
