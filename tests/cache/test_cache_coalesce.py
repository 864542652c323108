from __future__ import annotations

import threading
import time

import pytest

from cache.coalesce import SingleFlight


def run_threads(n: int, target: object) -> list[threading.Thread]:
    threads = [threading.Thread(target=target) for _ in range(n)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return threads


def test_concurrent_calls_share_one_run() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def work() -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return 42

    def caller() -> None:
        r = flights.do("k", work)
        with lock:
            results.append(r)

    run_threads(10, caller)
    assert calls == 1
    assert sorted(results) == [(42, False)] + [(42, True)] * 9
    assert len(flights) == 0


def test_error_reaches_every_waiter_and_is_not_cached() -> None:
    flights: SingleFlight[int] = SingleFlight()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def boom() -> int:
        time.sleep(0.2)
        raise RuntimeError("synthesis failed")

    def caller() -> None:
        try:
            flights.do("k", boom)
        except RuntimeError as exc:
            with lock:
                errors.append(exc)

    run_threads(5, caller)
    assert len(errors) == 5
    assert flights.do("k", lambda: 7) == (7, False)


def test_aborted_leader_lets_a_waiter_take_over() -> None:
    flights: SingleFlight[str] = SingleFlight()
    started = threading.Event()
    results: list[tuple[str, bool]] = []

    class Cancelled(BaseException):
        pass

    def leader_work() -> str:
        started.set()
        time.sleep(0.2)
        raise Cancelled

    def leader() -> None:
        with pytest.raises(Cancelled):
            flights.do("k", leader_work)

    def follower() -> None:
        started.wait()
        results.append(flights.do("k", lambda: "fresh"))

    threads = [threading.Thread(target=leader), threading.Thread(target=follower)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert results == [("fresh", False)]
