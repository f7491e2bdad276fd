"""The run record in Redis: what a run is, when it started and ends, and how far it got."""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import cast

import redis

from tasks.keys import Keys
from tasks.settings import Settings

logger = logging.getLogger(__name__)

RUNNING = "running"
STOPPING = "stopping"
FINISHED = "finished"
# A tick's due time is compared with the clock with this tolerance, so that float rounding
# of started_at + k * interval cannot push a tick into the next beat.
_TICK_EPSILON_S = 1e-6


@dataclass(frozen=True)
class RunRecord:
    """One run, as stored in the ``run`` hash; times are unix seconds."""

    id: str
    state: str
    started_at: float
    deadline_at: float
    interval_s: float
    window_s: float
    generators: int
    shard_size: int
    end_tick: int
    stop_at: float | None
    finished_at: float | None
    closed: bool = False
    beat_idle: bool = False

    @property
    def shards(self) -> int:
        """How many generate shards the run has."""
        return math.ceil(self.generators / self.shard_size)

    def shard_generators(self, shard: int) -> range:
        """The generators one shard covers."""
        first = shard * self.shard_size
        return range(first, min(first + self.shard_size, self.generators))

    def due_ticks(self, now: float) -> int:
        """How many ticks are due at ``now`` (tick k is due at started_at + k * interval)."""
        if now < self.started_at:
            return 0
        due = math.floor((now - self.started_at) / self.interval_s + _TICK_EPSILON_S) + 1
        return min(due, self.end_tick)

    def tick_due_at(self, tick: int) -> float:
        """When tick ``tick`` is due, in unix seconds."""
        return self.started_at + tick * self.interval_s


def new_run(client: redis.Redis, keys: Keys, settings: Settings, started_at: float) -> RunRecord:
    """Replace whatever the prefix held with a new run starting at ``started_at``."""
    run_id = uuid.uuid4().hex[:12]
    deadline_at = started_at + settings.duration_s
    fields: dict[str, str | int] = {
        "id": run_id,
        "state": RUNNING,
        "started_at": repr(started_at),
        "deadline_at": repr(deadline_at),
        "interval_s": repr(settings.interval_s),
        "window_s": repr(settings.window_s),
        "generators": settings.generators,
        "shard_size": settings.shard_size,
        "end_tick": settings.ticks,
        "closed": "0",
    }
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(*keys.run_state())
        pipe.hset(keys.run, mapping=fields)  # type: ignore[arg-type]  # invariant key type
        pipe.hset(
            keys.window,
            mapping={"index": 0, "opened_at": repr(started_at), "sum": 0, "count": 0},
        )
        pipe.execute()
    logger.debug("run %s recorded, starting at %.3f", run_id, started_at)
    record = read(client, keys)
    assert record is not None
    return record


def read(client: redis.Redis, keys: Keys) -> RunRecord | None:
    """The run on this prefix, or None if there has been none."""
    raw = cast(dict[str, str], client.hgetall(keys.run))
    if not raw:
        return None
    return RunRecord(
        id=raw["id"],
        state=raw["state"],
        started_at=float(raw["started_at"]),
        deadline_at=float(raw["deadline_at"]),
        interval_s=float(raw["interval_s"]),
        window_s=float(raw["window_s"]),
        generators=int(raw["generators"]),
        shard_size=int(raw["shard_size"]),
        end_tick=int(raw["end_tick"]),
        stop_at=float(raw["stop_at"]) if "stop_at" in raw else None,
        finished_at=float(raw["finished_at"]) if "finished_at" in raw else None,
        closed=raw.get("closed") == "1",
        beat_idle=raw.get("beat_idle") == raw["id"],
    )


def mark_finished(client: redis.Redis, keys: Keys, finished_at: float) -> None:
    """Record that the run is over; beat exits when it sees this."""
    client.hset(keys.run, mapping={"state": FINISHED, "finished_at": repr(finished_at)})


def mark_beat_idle(client: redis.Redis, keys: Keys, run_id: str) -> None:
    """Beat says it sends nothing more for this run."""
    client.hset(keys.run, "beat_idle", run_id)


def request_stop(client: redis.Redis, keys: Keys, reason: str) -> None:
    """Ask the coordinator of the active run to stop it gracefully now."""
    client.set(keys.stop_request, f"{reason} at {time.time():.3f}")


def stop_requested(client: redis.Redis, keys: Keys) -> str | None:
    """Who asked the run to stop, if anyone did."""
    return cast(str | None, client.get(keys.stop_request))
