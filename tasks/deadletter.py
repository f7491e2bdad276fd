"""Inputs that cannot be counted, kept aside in Redis with the reason."""

from __future__ import annotations

import json
import logging
import time

from tasks.context import Context

logger = logging.getLogger(__name__)


def put(ctx: Context, message_id: str, position: int, payload: object, reason: str) -> bool:
    """Keep one rejected input; returns False if it was kept before (a redelivery).

    Keyed by message id and position, so a redelivered bad message is kept and logged once.
    """
    record = json.dumps(
        {
            "message": message_id,
            "position": position,
            "reason": reason,
            "payload": payload,
            "at": round(time.time(), 6),
        },
        default=repr,
    )
    added = bool(ctx.client.hsetnx(ctx.keys.dead_letters, f"{message_id}/{position}", record))
    if added:
        logger.warning(
            "dead-lettered item %d of message %s: %s (kept in %s)",
            position,
            message_id,
            reason,
            ctx.keys.dead_letters,
        )
    return added
