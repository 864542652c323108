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
caller gets a 503 with Retry-After instead of a slow answer or a timeout. A job
still queued when its deadline passes never starts.
"""

from __future__ import annotations

import _thread
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_LOGGER = logging.getLogger(__name__)

# The deadline of the request this greenlet (or thread) is serving, while it holds
# a reservation. Greenlets and threads each have their own context.
_DEADLINE: ContextVar[float | None] = ContextVar("tts_request_deadline", default=None)
# What the jobs of that request have cost the pool's threads so far (seconds).
_DEMAND: ContextVar[list[float] | None] = ContextVar("tts_request_demand", default=None)

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
        self.capacity = threads + queue_size
        self.max_wait_s = max_wait_s
        self._admitted = 0
        self._running = 0
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
    def saturated(self) -> bool:
        """True when a new request would be refused: the cheap check before any work.

        One request per thread may always wait, however slow requests are: it starts the
        moment the one before it ends, so the threads never idle between requests, and
        it waits at most about one request's time."""
        admitted = self._admitted
        return admitted >= self.capacity or (admitted >= 2 * self.threads
                                             and self.expected_wait_s() > self.max_wait_s)

    def refuse_if_saturated(self) -> None:
        """Raise Overloaded when a new request would be refused (cheap; takes no slot)."""
        if self.saturated:
            # The queue admits again once it has drained to what `max_wait_s` allows:
            # at least one request has to finish first.
            admitted = self._admitted
            step = (self.demand_s or 0.0) / self.threads
            drain = max(step, self.expected_wait_s(admitted) - self.max_wait_s)
            raise Overloaded(f"{admitted} synthesis requests in flight or queued",
                             retry_after_s=drain)

    def _admit(self) -> None:
        with self._count_lock:
            self.refuse_if_saturated()
            self._admitted += 1

    def _release(self, demand: list[float] | None = None) -> None:
        with self._count_lock:
            self._admitted -= 1
            if demand and demand[0] > 0:
                self.demand_s = (demand[0] if self.demand_s is None else
                                 self.demand_s + DEMAND_WEIGHT * (demand[0] - self.demand_s))

    @contextmanager
    def reserve(self, timeout_s: float) -> Iterator[None]:
        """Admit one request for all of its jobs, with one deadline for all of them.

        Inside, `run` takes no further slot, so a request is refused before it
        starts (never half-way through its sentences), and its jobs share the
        request's deadline rather than getting a fresh one each. Nested calls (a
        long text's sentences) reuse the outer reservation. What the jobs cost the
        threads feeds the average that bounds the queue.
        """
        if _DEADLINE.get() is not None:
            yield
            return
        self._admit()
        demand = [0.0]
        token = _DEADLINE.set(time.monotonic() + timeout_s)
        demand_token = _DEMAND.set(demand)
        try:
            yield
        finally:
            self._release(demand)
            try:
                _DEADLINE.reset(token)
                _DEMAND.reset(demand_token)
            except ValueError:  # a stream's generator finalized from another context
                _LOGGER.debug("request deadline reset from another context")

    def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """Run `fn` on a pool thread and return its result, or raise Overloaded/DeadlineExceeded.

        Within `reserve`, the request's slot and deadline apply; alone, the call
        takes a slot of its own with `timeout_s` (start-up work: not counted in the
        average cost of a request).
        """
        submitted = time.monotonic()
        deadline = _DEADLINE.get()
        if deadline is not None:
            remaining = max(0.0, deadline - submitted)
            job = self._guard(fn, submitted, deadline, _DEMAND.get())
            return self._submit_and_wait(job, remaining)
        self._admit()
        try:
            return self._submit_and_wait(self._guard(fn, submitted, submitted + timeout_s, None),
                                         timeout_s)
        finally:
            self._release()

    def _guard(self, fn: Callable[[], T], submitted: float, deadline: float,
               demand: list[float] | None) -> Callable[[], T]:
        # Runs on the pool thread: count it as running, skip it if it waited too long,
        # and add what it cost to its request's demand.
        def job() -> T:
            now = time.monotonic()
            self.last_wait_s = now - submitted
            if now > deadline:
                raise DeadlineExceeded("job expired in the queue")
            with self._running_lock:
                self._running += 1
            try:
                return fn()
            finally:
                with self._running_lock:
                    self._running -= 1
                if demand is not None:
                    demand[0] += time.monotonic() - now

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
