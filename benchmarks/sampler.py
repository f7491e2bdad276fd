"""A background thread that samples a probe at a fixed period, a bounded number of times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

import redis

T = TypeVar("T")


class Sampler(Generic[T]):
    """Calls ``probe`` every ``period_s`` until stopped or ``max_samples`` were taken.

    A probe that fails with a Redis or OS error (the job just stopped) skips that sample.
    Each sample is ``(monotonic seconds since start, value)``.
    """

    def __init__(self, probe: Callable[[], T], period_s: float, max_samples: int = 10_000):
        self.probe = probe
        self.period_s = period_s
        self.max_samples = max_samples
        self.samples: list[tuple[float, T]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started_s = 0.0

    def __enter__(self) -> Sampler[T]:
        self._started_s = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        for _ in range(self.max_samples):
            try:
                value = self.probe()
            except (redis.RedisError, OSError):
                pass
            else:
                self.samples.append((time.monotonic() - self._started_s, value))
            if self._stop.wait(self.period_s):
                return

    def values(self) -> list[T]:
        """The sampled values, oldest first."""
        return [value for _, value in self.samples]
