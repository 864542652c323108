"""A bounded pool of real OS threads for synthesis, with admission control.

Under gunicorn's gevent worker the standard `threading` module is patched into
greenlets, so CPU-bound work there would stall the event loop. Synthesis goes
to gevent's native thread pool instead (ONNX Runtime releases the GIL while it
computes), and request greenlets wait on it cooperatively. Without gevent
(tests, the CLI) a `concurrent.futures` pool does the same job.

At most `threads` requests run and `queue_size` wait; a request beyond that is
refused at once (`Overloaded`) so the caller can get a 503 with Retry-After
instead of a timeout. A job still queued when its deadline passes never starts.
"""

from __future__ import annotations

import _thread
import logging
import os
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


class Overloaded(RuntimeError):
    """In-flight and queued work is at its bound; try again shortly."""


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


# Niceness of synthesis threads. Synthesis is batch work and the event loop is
# interactive: when both want the cores, /healthz, refusals and cache hits should not
# wait behind ONNX Runtime. Linux keeps niceness per thread, and the threads ONNX
# Runtime starts for a session inherit it from the pool thread that creates it.
SYNTHESIS_NICE = 10


def yield_cpu_to_event_loop() -> None:
    """Lower this thread's CPU priority to SYNTHESIS_NICE (never raise it)."""
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < SYNTHESIS_NICE:
            os.setpriority(os.PRIO_PROCESS, thread, SYNTHESIS_NICE)
    except OSError:  # a sandbox that forbids it: run at the inherited priority
        _LOGGER.debug("could not lower the synthesis thread's priority", exc_info=True)


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

    def __init__(self, threads: int, queue_size: int) -> None:
        self.threads = threads
        self.capacity = threads + queue_size
        self._admitted = 0
        self._running = 0
        self.last_wait_s = 0.0  # queue wait of the job that started last (a saturation signal)
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

    @property
    def saturated(self) -> bool:
        """True when a new request would be refused: the cheap check before any work."""
        return self._admitted >= self.capacity

    def refuse_if_saturated(self) -> None:
        """Raise Overloaded when a new request would be refused (cheap; takes no slot)."""
        if self.saturated:
            raise Overloaded(f"{self._admitted} synthesis requests in flight or queued")

    def _admit(self) -> None:
        with self._count_lock:
            self.refuse_if_saturated()
            self._admitted += 1

    def _release(self) -> None:
        with self._count_lock:
            self._admitted -= 1

    @contextmanager
    def reserve(self, timeout_s: float) -> Iterator[None]:
        """Admit one request for all of its jobs, with one deadline for all of them.

        Inside, `run` takes no further slot, so a request is refused before it
        starts (never half-way through its sentences), and its jobs share the
        request's deadline rather than getting a fresh one each. Nested calls (a
        long text's sentences) reuse the outer reservation.
        """
        if _DEADLINE.get() is not None:
            yield
            return
        self._admit()
        token = _DEADLINE.set(time.monotonic() + timeout_s)
        try:
            yield
        finally:
            self._release()
            try:
                _DEADLINE.reset(token)
            except ValueError:  # a stream's generator finalized from another context
                _LOGGER.debug("request deadline reset from another context")

    def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        """Run `fn` on a pool thread and return its result, or raise Overloaded/DeadlineExceeded.

        Within `reserve`, the request's slot and deadline apply; alone, the call
        takes a slot of its own with `timeout_s`.
        """
        submitted = time.monotonic()
        deadline = _DEADLINE.get()
        if deadline is not None:
            remaining = max(0.0, deadline - submitted)
            return self._submit_and_wait(self._guard(fn, submitted, deadline), remaining)
        self._admit()
        try:
            return self._submit_and_wait(self._guard(fn, submitted, submitted + timeout_s),
                                         timeout_s)
        finally:
            self._release()

    def _guard(self, fn: Callable[[], T], submitted: float, deadline: float) -> Callable[[], T]:
        # Runs on the pool thread: count it as running, and skip it if it waited too long.
        def job() -> T:
            now = time.monotonic()
            self.last_wait_s = now - submitted
            if now > deadline:
                raise DeadlineExceeded("job expired in the queue")
            yield_cpu_to_event_loop()
            with self._running_lock:
                self._running += 1
            try:
                return fn()
            finally:
                with self._running_lock:
                    self._running -= 1

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
