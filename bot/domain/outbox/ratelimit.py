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

    def reserve(self, within: float | None = None) -> float | None:
        """Reserve one token and return how many seconds to wait before using it; None, and
        nothing reserved, when that would be more than `within` seconds."""
        if self.rate <= 0:
            return 0.0
        interval = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            # Unused capacity accumulates up to `burst` tokens, no more.
            slot = max(self._next, now - (self.burst - 1) * interval)
            if within is not None and slot - now > within:
                return None  # too late for the caller: the slot stays free for another
            self._next = slot + interval
        return max(0.0, slot - now)

    def acquire(self, stop: threading.Event | None = None, within: float | None = None) -> bool:
        """Block until a token is ours; return False if `stop` was set while waiting, or
        at once if no token is free within `within` seconds."""
        delay = self.reserve(within)
        if delay is None:
            return False
        if delay <= 0:
            return not (stop and stop.is_set())
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)
