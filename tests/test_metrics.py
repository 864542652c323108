"""GET /metrics: every metric, with sane values, after real requests.

Once through real gunicorn with two gevent workers (prometheus multiprocess mode,
values of both workers aggregated, a killed worker's gauges dropped), once
through the Flask test client (one process, the default registry).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tts.testing.gunicorn_server import GunicornServer
from tts.testing.redis_servers import RedisServer
from tts.web.observability.metrics import observe_first_audio

FAMILIES = {
    "tts_http_requests": "counter",
    "tts_http_request_duration_seconds": "histogram",
    "tts_time_to_first_audio_seconds": "histogram",
    "tts_synthesis_rtf": "histogram",
    "tts_acoustic_seconds": "histogram",
    "tts_vocoder_seconds": "histogram",
    "tts_queue_depth": "gauge",
    "tts_in_flight": "gauge",
    "tts_queue_capacity": "gauge",
    "tts_cache_lookups": "counter",
    "tts_device": "gauge",
    "tts_degraded": "gauge",
    "tts_degrade_switches": "counter",
    "tts_engine_warm_up_seconds": "gauge",
    "tts_worker_ready": "gauge",
}
_counter = itertools.count()


def fresh_text() -> str:
    digits = "".join("零一二三四五六七八九"[int(d)] for d in str(next(_counter)))
    return f"明天上午九点在三楼开会讨论第{digits}号文件。"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(text: str) -> tuple[dict[str, str], Samples]:
    """(family -> type, (sample name, sorted labels) -> value), checking the text parses."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            if "le" in sample.labels:
                labels += (("le", sample.labels["le"]),)
            samples[(sample.name, labels)] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {key}; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def assert_sane(types: dict[str, str], samples: Samples, *, synthesized: int,
                workers: int) -> None:
    for name, kind in FAMILIES.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)} (want {kind})"
    assert value(samples, "tts_http_requests_total", route="/api/tts", method="POST",
                 status="200") >= synthesized
    assert value(samples, "tts_http_requests_total", route="/api/tts", method="POST",
                 status="400") >= 1
    assert value(samples, "tts_http_requests_total", route="unmatched", method="GET",
                 status="404") >= 1
    latency_count = value(samples, "tts_http_request_duration_seconds_count", route="/api/tts")
    latency_sum = value(samples, "tts_http_request_duration_seconds_sum", route="/api/tts")
    assert latency_count >= synthesized + 1 and 0 < latency_sum / latency_count < 10
    first = value(samples, "tts_time_to_first_audio_seconds_count", mode="whole")
    assert first >= synthesized
    for name in ("tts_synthesis_rtf", "tts_acoustic_seconds", "tts_vocoder_seconds"):
        count, total = value(samples, f"{name}_count"), value(samples, f"{name}_sum")
        assert count >= synthesized and 0 < total / count < 2, (name, count, total)
    assert value(samples, "tts_queue_depth") == 0
    assert value(samples, "tts_in_flight") == 0
    assert value(samples, "tts_queue_capacity") > 0
    assert value(samples, "tts_cache_lookups_total", tier="memory", result="miss") >= synthesized
    assert value(samples, "tts_device", device="cpu") == 1
    assert value(samples, "tts_device", device="cuda") == 0
    assert value(samples, "tts_degraded") == 0
    # Present from the start (at 0 here; other tests in this process may have switched).
    assert value(samples, "tts_degrade_switches_total", to="cpu", reason="queue-wait") >= 0
    assert 0 < value(samples, "tts_engine_warm_up_seconds") < 60
    assert value(samples, "tts_worker_ready") == workers


def exercise(post: Any, get: Any, texts: list[str]) -> None:
    for text in texts:
        for _ in range(3):  # the repeats are cache hits (memory, or Redis on the other worker)
            assert post("/api/tts", {"text": text}) == 200
    assert post("/api/tts", {"text": ""}) == 400
    assert get("/no/such/route") == 404


def test_metrics_aggregate_every_gunicorn_worker(redis_server: RedisServer) -> None:
    redis_server.ensure_ready()
    redis_server.flush()
    texts = [fresh_text() for _ in range(6)]
    with GunicornServer({"WORKERS": "2", "REDIS_URL": redis_server.url}) as server:
        session = requests.Session()

        def post(path: str, body: dict[str, Any]) -> int:
            return session.post(server.url + path, json=body, timeout=30).status_code

        def get(path: str) -> int:
            return requests.get(server.url + path, timeout=10).status_code  # new connection

        exercise(post, get, texts)
        # Fresh connections spread over both workers; each answers with the aggregate.
        scrapes = [requests.get(server.url + "/metrics", timeout=10) for _ in range(4)]
        assert all(r.status_code == 200 for r in scrapes)
        assert scrapes[-1].headers["Content-Type"].startswith("text/plain")
        types, samples = scrape(scrapes[-1].text)
        assert_sane(types, samples, synthesized=len(texts), workers=2)
        assert value(samples, "tts_http_requests_total", route="/api/tts", method="POST",
                     status="200") == 3 * len(texts)  # every worker's requests, counted once
        hits = sum(value(samples, "tts_cache_lookups_total", tier=tier, result="hit")
                   for tier in ("memory", "redis"))
        assert hits >= 2 * len(texts)
        assert value(samples, "tts_cache_lookups_total", tier="redis", result="miss") >= 1
        # Per worker: at most 1 thread + 8 by count, at least 2 by expected wait.
        assert 2 * 2 <= value(samples, "tts_queue_capacity") <= 2 * 9

        # A killed worker's live gauges leave with it (child_exit -> mark_process_dead).
        server.kill_worker()
        server.wait_ready(server.ready_lines() + 1)
        _, after = scrape(requests.get(server.url + "/metrics", timeout=10).text)
        assert value(after, "tts_worker_ready") == 2
        # The replacement has served nothing yet: only the count bounds it.
        assert 9 + 2 <= value(after, "tts_queue_capacity") <= 2 * 9


def test_metrics_in_one_process_use_the_default_registry(client: FlaskClient) -> None:
    def post(path: str, body: dict[str, Any]) -> int:
        return client.post(path, json=body).status_code

    def get(path: str) -> int:
        return client.get(path).status_code

    exercise(post, get, [fresh_text() for _ in range(2)])
    response = client.get("/metrics")
    assert response.status_code == 200
    types, samples = scrape(response.get_data(as_text=True))
    assert_sane(types, samples, synthesized=2, workers=1)
    assert value(samples, "tts_cache_lookups_total", tier="memory", result="hit") >= 4
    assert "process_cpu_seconds_total" in response.get_data(as_text=True)


@pytest.mark.parametrize("streamed", [True, False])
def test_time_to_first_audio_is_observable_by_other_code(client: FlaskClient,
                                                         streamed: bool) -> None:
    mode = "stream" if streamed else "whole"
    _, before = scrape(client.get("/metrics").get_data(as_text=True))
    observe_first_audio(0.042, streamed=streamed)
    _, after = scrape(client.get("/metrics").get_data(as_text=True))
    count = "tts_time_to_first_audio_seconds_count"
    assert value(after, count, mode=mode) == value(before, count, mode=mode) + 1
    bucket = ("tts_time_to_first_audio_seconds_bucket", (("mode", mode), ("le", "0.05")))
    assert after[bucket] == before[bucket] + 1
