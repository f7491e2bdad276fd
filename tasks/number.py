"""A generated number: its identity, its value and when it was generated.

A number's value is derived from its identity, so a tick generated again after a crash has
the same value as the first time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

VALUE_MIN = 0
VALUE_MAX = 100
FIELDS = frozenset({"run", "generator", "tick", "value", "generated_at"})


class InvalidNumberError(ValueError):
    """A message on the aggregate queue that is not a well-formed number."""


@dataclass(frozen=True)
class Number:
    """One generator's number for one tick of one run."""

    run: str
    generator: int
    tick: int
    value: int
    generated_at: float

    @property
    def id(self) -> str:
        """The number's identity within its run: ``generator:tick``."""
        return f"{self.generator}:{self.tick}"

    def ledger_entry(self) -> str:
        """How the ledger of pending numbers stores it: ``value,generated_at``."""
        return f"{self.value},{self.generated_at:.6f}"

    def to_message(self) -> dict[str, Any]:
        """The JSON-ready form carried on the aggregate queue."""
        return {
            "run": self.run,
            "generator": self.generator,
            "tick": self.tick,
            "value": self.value,
            "generated_at": self.generated_at,
        }

    @classmethod
    def from_ledger(cls, run: str, number_id: str, entry: str) -> Number:
        """Rebuild a pending number from its ledger id and entry."""
        generator, tick = number_id.split(":")
        value, generated_at = entry.split(",")
        return cls(run, int(generator), int(tick), int(value), float(generated_at))


def value_for(run: str, generator: int, tick: int) -> int:
    """The pseudo-random value of one number, fixed by its identity."""
    digest = hashlib.blake2b(f"{run}:{generator}:{tick}".encode(), digest_size=8).digest()
    return VALUE_MIN + int.from_bytes(digest, "big") % (VALUE_MAX - VALUE_MIN + 1)


def parse(payload: object) -> Number:
    """Check one message item and return the number it carries.

    Raises InvalidNumberError with the reason when anything is missing, extra or mistyped.
    """
    if not isinstance(payload, dict):
        raise InvalidNumberError(f"expected an object, got {type(payload).__name__}")
    missing = FIELDS - payload.keys()
    if missing:
        raise InvalidNumberError(f"missing field(s): {', '.join(sorted(missing))}")
    unknown = payload.keys() - FIELDS
    if unknown:
        raise InvalidNumberError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    run = payload["run"]
    if not isinstance(run, str) or not run:
        raise InvalidNumberError("run must be a non-empty string")
    generator = _whole(payload["generator"], "generator", low=0, high=2**31)
    tick = _whole(payload["tick"], "tick", low=0, high=2**40)
    value = _whole(payload["value"], "value", low=VALUE_MIN, high=VALUE_MAX)
    generated_at = payload["generated_at"]
    if (
        isinstance(generated_at, bool)
        or not isinstance(generated_at, int | float)
        or not math.isfinite(generated_at)
        or generated_at <= 0
    ):
        raise InvalidNumberError("generated_at must be a positive unix time in seconds")
    return Number(run, generator, tick, value, float(generated_at))


def _whole(raw: object, name: str, *, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidNumberError(f"{name} must be an integer, got {type(raw).__name__}")
    if not low <= raw <= high:
        raise InvalidNumberError(f"{name} {raw} is outside [{low}, {high}]")
    return raw
