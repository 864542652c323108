"""A bounded pool of real OS threads for synthesis, with admission control.

Under gunicorn's gevent worker the standard `threading` module is patched into
greenlets, so CPU-bound work there would stall the event loop. Synthesis goes
to gevent's native thread pool instead (ONNX Runtime releases the GIL while it
computes), and request greenlets wait on it cooperatively. Synthesis threads run
at the event loop's priority: below it, a storm of refusals (which a closed loop
of clients retrying at once makes as fast as the loop answers) took nearly all
the CPU and admitted requests ran into their deadline. Without gevent
(tests, the CLI) a `concurrent.futures` pool does the same job.

At most `threads` requests run. Others may wait while the wait they can expect
stays within `max_wait_s` (and their count within `queue_size`): the expected
wait comes from measured synthesis speed (an average of what recent requests
cost the threads), so the queue is as long as the cores can clear in time,
whatever the texts and the machine. A request beyond that is refused at once
(`Overloaded`, with the seconds until the queue should admit again) so the
caller gets a 503 with Retry-After instead of a slow answer or a timeout. Admitted
requests' jobs take the threads in priority order (tts/lanes.py): every request's first
job goes ahead of the others' later ones.
A job still waiting when its deadline passes never starts.
"""

from __future__ import annotations

import _thread
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tts.lanes import Lanes

T = TypeVar("T")

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Reservation:
    """One admitted request: its deadline (monotonic), its place in admission order,
    how many jobs it has sent and what they have cost the threads (seconds)."""

    deadline: float
    order: int
    jobs: int = 0
    cost_s: float = 0.0

    def next_priority(self) -> tuple[int, int]:
        """The first job before everyone's later ones, then by admission order."""
        first = self.jobs == 0
        self.jobs += 1
        return (0 if first else 1, self.order)


# The reservation of the request this greenlet (or thread) is serving. Greenlets and
# threads each have their own context.
_RESERVATION: ContextVar[_Reservation | None] = ContextVar("tts_reservation", default=None)

# Weight of the latest request in the average cost of a request: about the last ten
# requests count, so the estimate follows a change of load or texts within seconds.
DEMAND_WEIGHT = 0.2


class Overloaded(RuntimeError):
    """In-flight and queued work is at its bound; try again in `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(RuntimeError):
    """The job did not finish within the request's deadline."""


def gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def native_lock() -> Any:
    """A lock that works across real OS threads even when `threading` is patched."""
    if gevent_active():
        from gevent.monkey import get_original

        return get_original("threading", "Lock")()
    return threading.Lock()


class NativeCall(Generic[T]):
    """`fn` running on a new real OS thread, even under gevent; `result()` waits for it.

    For start-up work that can overlap other start-up work (ONNX Runtime warm-up
    computes without the GIL while the front end loads its dictionaries). Wait on
    it from a real thread (the pool's), never from the event loop. Under gevent the
    `threading` module's own functions are patched, so the thread and the lock come
    from `_thread` as it was before patching.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._outcome: tuple[T] | BaseException | None = None
        self._done = native_lock()
        self._done.acquire()
        start: Any = _thread.start_new_thread
        if gevent_active():
            from gevent.monkey import get_original

            start = get_original("_thread", "start_new_thread")
        start(self._run, ())

    def _run(self) -> None:
        try:
            self._outcome = (self._fn(),)
        except BaseException as exc:  # handed to whoever waits for the result
            self._outcome = exc
        finally:
            self._done.release()

    def result(self) -> T:
        with self._done:
            pass
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome[0]


class InferencePool:
    """One per worker. `run` blocks the calling request (greenlet or thread) only."""

    def __init__(self, threads: int, queue_size: int, max_wait_s: float = math.inf) -> None:
        self.threads = threads
        self.limit = threads + queue_size  # the count bound; `capacity` adds the wait bound
        self.max_wait_s = max_wait_s
        self._admitted = 0
        self._running = 0
        self._orders = itertools.count()
        self._lanes = Lanes(threads)
        self.last_wait_s = 0.0  # queue wait of the job that started last (a saturation signal)
        # Average thread-seconds one admitted request costs; None until one has finished,
        # and until then only the count bounds the queue.
        self.demand_s: float | None = None
        self._count_lock = threading.Lock()  # taken by requests only
        self._running_lock = native_lock()  # taken by pool threads only
        self._gevent = gevent_active()
        if self._gevent:
            from gevent.threadpool import ThreadPool

            self._pool: Any = ThreadPool(maxsize=threads)
        else:
            self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synth")

    @property
    def in_flight(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return max(0, self._admitted - self._running)

    def expected_wait_s(self, admitted: int | None = None) -> float:
        """How long a request admitted now would wait for a thread: the requests ahead
        of it that must finish first, at the measured cost of a request."""
        ahead = (self._admitted if admitted is None else admitted) + 1 - self.threads
        if ahead <= 0 or self.demand_s is None:
            return 0.0
        return ahead * self.demand_s / self.threads

    @property
    def capacity(self) -> int:
        """Requests that may run or wait at once now; the next one is refused.

        The expected wait of the n-th admitted request is (n - threads) requests'
        cost shared by the threads; it stays within `max_wait_s` up to
        n = threads + floor(max_wait_s * threads / cost). One request per thread may
        always wait, however slow requests are: it starts the moment the one before
        it ends, so the threads never idle between requests, and it waits at most
        about one request's time."""
        demand = self.demand_s
        if demand is None or demand <= 0 or math.isinf(self.max_wait_s):
            return self.limit
        by_wait = self.threads + math.floor(self.max_wait_s * self.threads / demand)
        return min(self.limit, max(2 * self.threads, by_wait))

    @property
    def saturated(self) -> bool:
        """True when a new request would be refused: the cheap check before any work."""
        return self._admitted >= self.capacity

    def refuse_if_saturated(self, *, stream: bool = False) -> None:
        """Raise Overloaded when a new request would be refused (cheap; takes no slot).

        A stream is bounded by the count only: its first job goes ahead of the queued
        later jobs (tts/lanes.py), so it waits about one job for its first audio, not
        for the queue, and after that it needs the threads only at the pace its audio
        is played."""
        admitted = self._admitted
        if admitted >= (self.limit if stream else self.capacity):
            # The queue admits again once it has drained to what `max_wait_s` allows:
            # at least one request has to finish first.
            step = (self.demand_s or 0.0) / self.threads
            drain = max(step, self.expected_wait_s(admitted) - self.max_wait_s)
            raise Overloaded(f"{admitted} synthesis requests in flight or queued",
                             retry_after_s=drain)

    def _admit(self, timeout_s: float, *, stream: bool = False) -> _Reservation:
        with self._count_lock:
            self.refuse_if_saturated(stream=stream)
            self._admitted += 1
            return _Reservation(time.monotonic() + timeout_s, next(self._orders))

    def _release(self, reservation: _Reservation, *, learn: bool) -> None:
        with self._count_lock:
            self._admitted -= 1
            cost = reservation.cost_s
            if learn and cost > 0:
                self.demand_s = (cost if self.demand_s is None else
                                 self.demand_s + DEMAND_WEIGHT * (cost - self.demand_s))

    @contextmanager
    def reserve(self, timeout_s: float, *, stream: bool = False) -> Iterator[None]:
        """Admit one request for all of its jobs, with one deadline for all of them.

        Inside, `run` takes no further slot, so a request is refused before it
        starts (never half-way through its sentences), and its jobs share the
        request's deadline rather than getting a fresh one each. Nested calls (a
        long text's sentences) reuse the outer reservation. What the jobs cost the
        threads feeds the average that bounds the queue. `stream`: see
        `refuse_if_saturated`.
        """
        if _RESERVATION.get() is not None:
            yield
            return
        reservation = self._admit(timeout_s, stream=stream)
        token = _RESERVATION.set(reservation)
        try:
            yield
        finally:
            self._release(reservation, learn=True)
            try:
                _RESERVATION.reset(token)
            except ValueError:  # a stream's generator finalized from another context
                _LOGGER.debug("request reservation reset from another context")

    def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """Run `fn` on a pool thread and return its result, or raise Overloaded/DeadlineExceeded.

        Within `reserve`, the request's slot and deadline apply; alone, the call
        takes a slot of its own with `timeout_s` (start-up work: not counted in the
        average cost of a request).
        """
        reservation = _RESERVATION.get()
        if reservation is not None:
            return self._run_in(reservation, fn)
        reservation = self._admit(timeout_s)
        try:
            return self._run_in(reservation, fn)
        finally:
            self._release(reservation, learn=False)

    def _run_in(self, reservation: _Reservation, fn: Callable[[], T]) -> T:
        """Wait for a thread in priority order, then run `fn` there and wait for it."""
        submitted = time.monotonic()
        if not self._lanes.acquire(reservation.next_priority(),
                                   reservation.deadline - submitted):
            raise DeadlineExceeded("job expired in the queue")
        try:
            job = self._guard(fn, submitted, reservation)
            return self._submit_and_wait(job, max(0.0, reservation.deadline - time.monotonic()))
        finally:
            self._lanes.release()

    def _guard(self, fn: Callable[[], T], submitted: float,
               reservation: _Reservation) -> Callable[[], T]:
        # Runs on the pool thread: count it as running and add what it cost to its
        # request's demand.
        def job() -> T:
            now = time.monotonic()
            self.last_wait_s = now - submitted
            with self._running_lock:
                self._running += 1
            try:
                return fn()
            finally:
                with self._running_lock:
                    self._running -= 1
                reservation.cost_s += time.monotonic() - now

        return job

    def _submit_and_wait(self, job: Callable[[], T], timeout_s: float) -> T:
        if self._gevent:
            from gevent import Timeout

            result = self._pool.spawn(job)
            try:
                value: T = result.get(timeout=timeout_s)
            except Timeout as exc:
                raise DeadlineExceeded(f"synthesis took longer than {timeout_s:g} s") from exc
            return value
        future = self._pool.submit(job)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout as exc:
            raise DeadlineExceeded(f"synthesis took longer than {timeout_s:g} s") from exc

    def shutdown(self) -> None:
        if self._gevent:
            self._pool.kill()
        else:
            self._pool.shutdown(wait=True)
