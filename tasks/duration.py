"""Human durations (``250ms``, ``1s``, ``30s``, ``10m``) parsed once, at the edge."""

from __future__ import annotations

import math
import re

from tasks.errors import ConfigError

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(?P<amount>[-+]?[0-9]*\.?[0-9]+)\s*(?P<unit>ms|s|m|h)?\s*$")


def parse_duration_s(text: str, *, name: str) -> float:
    """Return ``text`` in seconds; a bare number is seconds.

    Raises ConfigError naming ``name`` when the text is unparsable or not positive.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(f"{name} must be a duration such as 250ms, 1s, 30s or 10m, not {text!r}")
    seconds = float(match["amount"]) * _UNIT_S[match["unit"] or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{name} must be longer than zero, not {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds the way a user would write them (``250ms``, ``30s``, ``10m``)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
