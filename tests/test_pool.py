"""The inference pool's admission rules, on real threads (no gevent here)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tts.pool import SYNTHESIS_NICE, DeadlineExceeded, InferencePool, NativeCall, Overloaded


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


def test_synthesis_threads_run_below_the_event_loop(pool: InferencePool) -> None:
    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    here = priority()
    assert pool.run(priority, 10.0) == max(here, SYNTHESIS_NICE)
    assert priority() == here  # the caller's own thread keeps its priority
