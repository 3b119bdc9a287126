"""A thread-safe token bucket that spaces sends evenly at a fixed rate per sender."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Allow `rate` acquisitions per second (0 = unlimited), with bursts of up to `burst`.

    Each caller reserves the next free slot under the lock and then sleeps outside it,
    so many threads share one bucket fairly and the long-run rate is exact.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self) -> float:
        """Reserve one token and return how many seconds to wait before using it."""
        if self.rate <= 0:
            return 0.0
        interval = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            # Unused capacity accumulates up to `burst` tokens, no more.
            slot = max(self._next, now - (self.burst - 1) * interval)
            self._next = slot + interval
        return max(0.0, slot - now)

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is ours; return False if `stop` was set while waiting."""
        delay = self.reserve()
        if delay <= 0:
            return not (stop and stop.is_set())
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)
