"""How a stop is asked for: signal handlers only set these flags; the main loop acts on them."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Stopper:
    """First request: a graceful stop. Second: a faster one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.forced = False

    def request(self, reason: str) -> None:
        """Ask for a graceful stop, or a forced one if a stop was already asked for."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            else:
                self.forced = True

    def install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM to ``request``."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signal.Signals(signum).name)
