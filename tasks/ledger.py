"""The ledger of numbers generated and not yet counted, seen from the coordinator."""

from __future__ import annotations

from tasks.context import Context
from tasks.number import Number


def claim_stale(
    ctx: Context, run_id: str, *, now: float, redeliver_after_s: float, limit: int
) -> list[Number]:
    """Numbers due to be published again, restamped with a backoff (see claim_stale.lua)."""
    claimed: list[str] = ctx.scripts.claim_stale(
        keys=[ctx.keys.pending, ctx.keys.pending_since],
        args=[repr(now - redeliver_after_s), repr(now), limit, repr(redeliver_after_s)],
    )
    return [
        Number.from_ledger(run_id, claimed[i], claimed[i + 1]) for i in range(0, len(claimed), 2)
    ]


def pending_count(ctx: Context) -> int:
    """How many numbers are generated and not yet counted."""
    return int(ctx.client.hlen(ctx.keys.pending))


def pending_sample(ctx: Context, size: int) -> list[str]:
    """Ids (``generator:tick``) of up to ``size`` pending numbers, for a person to look at."""
    _, sample = ctx.client.hscan(ctx.keys.pending, count=size)
    return sorted(str(number_id) for number_id in sample)[:size]
