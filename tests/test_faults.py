"""Load and fault tests against real gunicorn on 127.0.0.1: shorter runs of tts.testing.faults.

What tests/test_gunicorn.py already covers is not repeated here (one overload burst,
SIGTERM drain of in-flight requests, a killed idle worker, /healthz under load). These
add the faults *during sustained load*: 10 s at 4x capacity (fast 503s with Retry-After,
/healthz answering, worker memory bounded), Redis stopped and restarted mid-load (no
failed request), a worker SIGKILLed mid-load (only the requests in flight on it fail,
gunicorn replaces it, ready again, nothing refused while it warms), and workers recycled
by max_requests mid-load (no request fails). Bounds are generous: the machine is shared,
and the timed targets are benchmarks (`python -m bench.faults` runs 60 s at 4x with a 50 ms /healthz
p99 bound, and a 10,000-request soak). Together about a minute and a half.
"""

from __future__ import annotations

import pytest

from tts.testing.faults.outcome import Outcome
from tts.testing.faults.overload import overload
from tts.testing.faults.redis_restart import redis_restart
from tts.testing.faults.signals import WITHIN_CAPACITY, kill_worker, recycle
from tts.testing.gunicorn_server import ServerFactory
from tts.testing.redis_servers import RedisServer


def report(outcome: Outcome) -> None:
    print(f"{outcome.name}: {outcome.figures}")
    assert outcome.passed, outcome.violations


def test_sustained_overload_is_refused_fast_and_memory_stays_bounded(
        gunicorn_servers: ServerFactory) -> None:
    # Capacity 2 x (1 + 2) = 6, so 24 clients. Bounds generous for a shared machine: the
    # latencies are seen from a client whose 24 threads share the cores with the service.
    server = gunicorn_servers({"WORKERS": "2", "QUEUE_SIZE": "2"})
    outcome = overload(server, seconds=10, healthz_p99_s=1.0, refusal_s=3.0,
                       refusal_p50_s=0.5)
    report(outcome)
    assert outcome.figures["clients"] == 24


def test_redis_restart_during_load_fails_no_request(
        gunicorn_servers: ServerFactory, redis_server: RedisServer) -> None:
    redis_server.ensure_ready()
    redis_server.flush()
    server = gunicorn_servers({**WITHIN_CAPACITY, "REDIS_URL": redis_server.url})
    try:
        report(redis_restart(server, redis_server, seconds=12))
    finally:
        redis_server.ensure_ready()
        redis_server.flush()


@pytest.mark.parametrize("clients", [4])
def test_worker_killed_during_load_fails_only_its_requests(
        gunicorn_servers: ServerFactory, clients: int) -> None:
    server = gunicorn_servers({**WITHIN_CAPACITY, "WORKERS": "2"})
    report(kill_worker(server, seconds=9, clients=clients))


def test_workers_recycled_during_load_fail_no_request(gunicorn_servers: ServerFactory) -> None:
    # Every new text is really synthesized, so a loaded machine may serve only a
    # dozen or two requests in the run: a worker must reach its limit well before that.
    server = gunicorn_servers({**WITHIN_CAPACITY, "WORKERS": "2", "MAX_REQUESTS": "4",
                               "MAX_REQUESTS_JITTER": "1"})
    report(recycle(server, seconds=10))
