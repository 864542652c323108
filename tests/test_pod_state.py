"""One state per pod, through real gunicorn workers: the degrade mode set through one
worker holds for every worker, and a rate limit counts the pod's requests (and, with
Redis, every pod's) rather than each worker's.

Requests go on fresh connections, so gunicorn's workers take turns accepting them."""

from __future__ import annotations

import time
from typing import Any

import requests

from tts.testing.gunicorn_server import GunicornServer, ServerFactory
from tts.testing.redis_servers import RedisServer

ADMIN = {"Authorization": "Bearer pod-admin-token"}
PER_MINUTE = 6
LIMITED = {"RATE_LIMIT_PER_S": str(PER_MINUTE / 60), "RATE_LIMIT_BURST": str(PER_MINUTE)}


def every_worker(server: GunicornServer, path: str, tries: int = 60) -> dict[int, Any]:
    """GET `path` (which names its worker's pid) until every worker has answered."""
    seen: dict[int, Any] = {}
    for _ in range(tries):
        body = requests.get(server.url + path, headers=ADMIN, timeout=10).json()
        seen[body["worker_pid"]] = body
        if len(seen) == server.workers:
            break
    assert set(seen) == set(server.worker_pids()), f"not every worker answered: {seen}"
    return seen


def test_one_degrade_request_sets_the_mode_of_every_worker(
        gunicorn_servers: ServerFactory) -> None:
    server = gunicorn_servers({"WORKERS": "2", "ADMIN_TOKEN": ADMIN["Authorization"][7:]})
    for mode in ("cpu", "auto"):
        reply = requests.post(server.url + "/admin/degrade", json={"mode": mode},
                              headers=ADMIN, timeout=10)
        assert reply.status_code == 200, reply.text
        views = every_worker(server, "/admin/degrade")
        assert {view["mode"] for view in views.values()} == {mode}, views


def admitted(urls: list[str], requests_each: int) -> list[int]:
    """Statuses of GET /api/voices (a limited path) sent round-robin to `urls`."""
    statuses = []
    for _ in range(requests_each):
        for url in urls:
            statuses.append(requests.get(url + "/api/voices", timeout=10).status_code)
    return statuses


def test_a_rate_limit_counts_across_the_workers_of_a_pod(
        gunicorn_servers: ServerFactory) -> None:
    server = gunicorn_servers({"WORKERS": "2", **LIMITED})
    started = time.monotonic()
    statuses = admitted([server.url], 3 * PER_MINUTE)
    assert time.monotonic() - started < 60  # all within one window
    assert statuses.count(200) == PER_MINUTE, statuses
    assert set(statuses) == {200, 429}


def test_with_redis_a_rate_limit_counts_across_pods(
        gunicorn_servers: ServerFactory, redis_server: RedisServer) -> None:
    redis_server.ensure_ready()
    redis_server.flush()
    pods = [gunicorn_servers({"WORKERS": "1", "REDIS_URL": redis_server.url, **LIMITED})
            for _ in range(2)]
    statuses = admitted([pod.url for pod in pods], 2 * PER_MINUTE)
    assert statuses.count(200) == PER_MINUTE, statuses
