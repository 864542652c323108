"""A small circuit breaker so a dead Redis costs nothing per request.

Closed: calls go through; ``failures`` consecutive failures open it. Open: calls are
skipped. After ``reset_s`` one caller is let through as a probe (and the window starts
again, so a probe that never reports back cannot wedge the breaker); a success closes
it, a failure keeps it open for another ``reset_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

UP = "up"
DOWN = "down"
OPEN = "circuit-open"


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 3,
        reset_s: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures}")
        if reset_s <= 0:
            raise ValueError(f"reset_s must be > 0, got {reset_s}")
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None

    def allow(self) -> bool:
        """True if the caller may use the backend now (closed, or this is the probe)."""
        with self._lock:
            if self._opened_at is None:
                return True
            now = self._clock()
            if now - self._opened_at >= self._reset_s:
                self._opened_at = now  # this caller is the probe; others keep skipping
                return True
            return False

    def record_success(self) -> bool:
        """Note a success; True if this closed an open breaker."""
        with self._lock:
            was_open = self._opened_at is not None
            self._failures = 0
            self._opened_at = None
            return was_open

    def record_failure(self) -> bool:
        """Note a failure; True if this opened the breaker."""
        with self._lock:
            self._failures += 1
            if self._opened_at is not None:
                self._opened_at = self._clock()
                return False
            if self._failures >= self._threshold:
                self._opened_at = self._clock()
                return True
            return False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is not None:
                return OPEN
            return DOWN if self._failures else UP
