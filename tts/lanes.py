"""Who runs next on the inference threads: a priority order instead of arrival order.

A request's audio is several jobs (acoustic passes, vocoder spans, the join). Served
in the order jobs arrive, a stream that starts beside others waits behind all of
their queued jobs before its first audio. Here a request's first job (which, on a
stream, makes its first audio) goes ahead of every later job of the others, and
later jobs go in the order their requests were admitted.

The lanes are the threads: at most `count` jobs hold one, the rest wait in priority
order and are handed a lane directly as one is released.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field


@dataclass(order=True)
class _Waiter:
    priority: tuple[int, int]
    order: int
    granted: threading.Event = field(compare=False)
    gave_up: bool = field(compare=False, default=False)


class Lanes:
    """At most `count` holders; waiters are served lowest `priority` first, then in
    arrival order. Under gevent the `threading` primitives here are greenlet ones,
    which is what the callers (request greenlets) need."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiting: list[_Waiter] = []
        self._lock = threading.Lock()
        self._arrivals = itertools.count()

    def acquire(self, priority: tuple[int, int], timeout_s: float) -> bool:
        """Take a lane, waiting at most `timeout_s`; False if none came in time."""
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return True
            # Looked up now, not at import: under gevent, `threading` is patched after
            # the master imported this module.
            waiter = _Waiter(priority, next(self._arrivals), threading.Event())
            heapq.heappush(self._waiting, waiter)
        if waiter.granted.wait(max(0.0, timeout_s)):
            return True
        with self._lock:
            if not waiter.granted.is_set():
                waiter.gave_up = True  # left in the heap; `release` skips it
                return False
        # Handed a lane as the wait ran out: the job is expired, so pass the lane on.
        self.release()
        return False

    def release(self) -> None:
        with self._lock:
            while self._waiting:
                waiter = heapq.heappop(self._waiting)
                if not waiter.gave_up:
                    waiter.granted.set()
                    return
            self._free += 1

