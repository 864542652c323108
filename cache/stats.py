"""Per-tier counters, safe to bump from many threads or greenlets."""

from __future__ import annotations

import threading

FIELDS = ("hits", "misses", "errors", "bytes_read", "bytes_written")


class TierStats:
    """Monotonic counters for one tier; ``snapshot`` is what /metrics reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(FIELDS, 0)

    def add(self, field: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[field] += amount

    def hit(self, nbytes: int) -> None:
        with self._lock:
            self._counts["hits"] += 1
            self._counts["bytes_read"] += nbytes

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
