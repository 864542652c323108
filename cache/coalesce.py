"""In-worker single flight: identical concurrent calls share one execution.

Only standard ``threading`` primitives, so the same code is cooperative under gevent
monkey-patching and truly concurrent under plain threads. The registry lock is held
only to look up or remove a flight, never while the work runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("aborted", "done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: Exception | None = None
        self.aborted = False


class SingleFlight(Generic[T]):
    """``do(key, fn)`` runs ``fn`` once per key at a time; concurrent callers wait.

    An exception raised by ``fn`` is re-raised in every caller of that flight, and the
    flight is forgotten, so a later call tries again. If the leader is torn down by a
    non-Exception (a greenlet kill, a timeout, KeyboardInterrupt), the waiters are not
    handed that signal: they start a new flight among themselves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """(result, shared): shared is True when another caller ran ``fn`` for us."""
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leader:
                return self._lead(key, flight, fn), False
            flight.done.wait()
            if flight.aborted:
                continue
            if flight.error is not None:
                raise flight.error
            return cast(T, flight.result), True

    def _lead(self, key: str, flight: _Flight[T], fn: Callable[[], T]) -> T:
        try:
            flight.result = fn()
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.aborted = True
            raise
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def __len__(self) -> int:
        """Flights in progress now."""
        return len(self._flights)
