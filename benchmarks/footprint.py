"""x."""

from __future__ import annotations

from benchmarks.result import Result


def run(*, quick: bool) -> Result:
    return Result("footprint")
