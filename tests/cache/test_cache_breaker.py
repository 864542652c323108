from __future__ import annotations

from cache.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_probes_later() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, reset_s=5.0, clock=clock)
    assert breaker.state == "up"
    breaker.record_failure()
    breaker.record_success()  # a success resets the count
    assert breaker.state == "up"
    assert not breaker.record_failure()
    assert breaker.state == "down"
    assert not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.state == "circuit-open"
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()  # one probe ...
    assert not breaker.allow()  # ... at a time
    breaker.record_failure()  # probe failed: another full window
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    assert breaker.record_success()
    assert breaker.state == "up"
    assert breaker.allow()


def test_lost_probe_does_not_wedge_it() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, reset_s=1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1.0
    assert breaker.allow()  # this probe never reports back
    clock.now += 1.0
    assert breaker.allow()
