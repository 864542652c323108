"""The inference pool's admission rules, on real threads (no gevent here)."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tts.pool import DeadlineExceeded, InferencePool, NativeCall, Overloaded


@pytest.fixture()
def pool() -> InferencePool:
    return InferencePool(threads=1, queue_size=0)


def test_a_reservation_takes_one_slot_for_all_its_jobs(pool: InferencePool) -> None:
    with pool.reserve(10.0):
        assert pool.saturated
        assert [pool.run(lambda: "job", 10.0) for _ in range(3)] == ["job"] * 3
    assert not pool.saturated
    assert pool.run(lambda: "free again", 10.0) == "free again"


def test_another_thread_is_refused_while_a_reservation_is_held(pool: InferencePool) -> None:
    refused: list[BaseException] = []

    def other_request() -> None:
        try:
            with pool.reserve(10.0):
                pass
        except Overloaded as exc:
            refused.append(exc)

    with pool.reserve(10.0):
        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join(10)
    assert len(refused) == 1


def test_jobs_of_one_reservation_share_its_deadline(pool: InferencePool) -> None:
    with pool.reserve(0.5):
        pool.run(lambda: time.sleep(0.3), 10.0)  # the per-call timeout is ignored inside
        with pytest.raises(DeadlineExceeded):
            pool.run(lambda: time.sleep(0.4), 10.0)  # only 0.2 s of the 0.5 s remain
    pool.shutdown()


def test_nested_reservations_reuse_the_outer_slot(pool: InferencePool) -> None:
    with pool.reserve(10.0), pool.reserve(10.0):
        assert pool.run(lambda: 1, 10.0) == 1
    assert not pool.saturated


def test_native_call_returns_its_result_from_another_thread() -> None:
    call = NativeCall(threading.get_ident)
    assert call.result() != threading.get_ident()


def test_native_call_hands_its_failure_to_the_waiter() -> None:
    def fail() -> None:
        raise ValueError("warm-up failed")

    with pytest.raises(ValueError, match="warm-up failed"):
        NativeCall(fail).result()


def hold(pool: InferencePool, held: list[AbstractContextManager[None]]) -> None:
    """Take a reservation in a context of its own (a request of its own) and keep it
    (in `held`: a reservation let go of is released)."""
    reservation = pool.reserve(10.0)
    contextvars.Context().run(reservation.__enter__)
    held.append(reservation)


def test_the_queue_is_bounded_by_expected_wait_not_count() -> None:
    pool = InferencePool(threads=1, queue_size=100, max_wait_s=0.25)
    with pool.reserve(10.0):
        pool.run(lambda: time.sleep(0.1), 10.0)
    assert pool.demand_s == pytest.approx(0.1, abs=0.05)
    held: list[AbstractContextManager[None]] = []
    for _ in range(3):  # expected waits 0, 0.1 and 0.2 s: admitted
        hold(pool, held)
    assert pool.saturated  # a fourth would wait 0.3 s > 0.25 s
    assert pool.capacity == 3  # what /readyz reports: the same bound
    with pytest.raises(Overloaded) as refused:
        hold(pool, held)
    # At least one request must finish before the queue admits again.
    assert refused.value.retry_after_s == pytest.approx(0.1, abs=0.05)


def test_streams_are_bounded_by_count_only() -> None:
    pool = InferencePool(threads=1, queue_size=3, max_wait_s=0.0)
    with pool.reserve(10.0):
        pool.run(lambda: time.sleep(0.05), 10.0)
    held: list[AbstractContextManager[None]] = []
    hold(pool, held)
    hold(pool, held)
    with pytest.raises(Overloaded):  # a whole request would wait too long
        hold(pool, held)
    for _ in range(2):  # a stream's first job waits for one job, not for the queue
        reservation = pool.reserve(10.0, stream=True)
        contextvars.Context().run(reservation.__enter__)
        held.append(reservation)
    with pytest.raises(Overloaded):  # threads + queue_size: the count bound
        pool.refuse_if_saturated(stream=True)


def test_one_request_per_thread_may_always_wait() -> None:
    pool = InferencePool(threads=1, queue_size=100, max_wait_s=0.0)
    with pool.reserve(10.0):
        pool.run(lambda: time.sleep(0.05), 10.0)
    held: list[AbstractContextManager[None]] = []
    hold(pool, held)
    hold(pool, held)  # waits one request's time although max_wait_s is 0
    with pytest.raises(Overloaded):
        hold(pool, held)


def test_queue_wait_is_not_counted_as_cost() -> None:
    pool = InferencePool(threads=1, queue_size=4)
    release = threading.Event()
    blocker = threading.Thread(target=pool.run, args=(release.wait, 10.0))
    blocker.start()

    def request() -> None:
        with pool.reserve(10.0):
            pool.run(lambda: time.sleep(0.05), 10.0)

    waiter = threading.Thread(target=request)
    waiter.start()
    time.sleep(0.3)  # the request waits behind the blocker all this time
    release.set()
    waiter.join(10)
    blocker.join(10)
    assert pool.demand_s is not None and pool.demand_s < 0.2


def test_a_new_requests_first_job_goes_ahead_of_later_jobs() -> None:
    """One busy thread; an earlier request's second job waits, then a new request's
    first job arrives: the first job runs first (a stream's first audio), then the
    earlier request's job."""
    pool = InferencePool(threads=1, queue_size=4)
    ran: list[str] = []
    first_done, go_on, release = threading.Event(), threading.Event(), threading.Event()

    def job(name: str) -> Callable[[], None]:
        return lambda: ran.append(name)

    def earlier() -> None:
        with pool.reserve(10.0):
            pool.run(job("earlier, first"), 10.0)
            first_done.set()
            go_on.wait(10)
            pool.run(job("earlier, second"), 10.0)

    def newer() -> None:
        with pool.reserve(10.0):
            pool.run(job("newer, first"), 10.0)

    threads = [threading.Thread(target=earlier)]
    threads[0].start()
    assert first_done.wait(10)
    threads.append(threading.Thread(target=pool.run, args=(release.wait, 10.0)))
    threads[-1].start()  # the thread is busy from here
    time.sleep(0.1)
    go_on.set()  # the earlier request's second job queues
    time.sleep(0.1)
    threads.append(threading.Thread(target=newer))
    threads[-1].start()  # the new request's first job queues behind it
    time.sleep(0.1)
    release.set()
    for thread in threads:
        thread.join(10)
    assert ran == ["earlier, first", "newer, first", "earlier, second"]
