"""The two-tier cache seen through HTTP, with a real redis-server and the real voice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import make_settings, started_app
from tts.engines.base import SentenceAudio
from tts.testing.redis_servers import RedisServer
from tts.worker import Worker

TIMEOUT_S = 0.1


@pytest.fixture(scope="module")
def cached_app(voice_dir: Path, redis_server: RedisServer) -> Iterator[Flask]:
    app = started_app(make_settings(voice_dir, redis_url=redis_server.url,
                                    redis_timeout_s=TIMEOUT_S, queue_size=64))
    yield app
    app.extensions["tts"].close()


@pytest.fixture()
def worker(cached_app: Flask, clean_redis: RedisServer) -> Iterator[Worker]:
    state: Worker = cached_app.extensions["tts"]
    state.cache.memory.clear()
    yield state
    assert state.service is not None
    state.service.synthesizer.on_sentence = None


def count_sentences(worker: Worker) -> list[SentenceAudio]:
    """Record every sentence the engine synthesizes from now on."""
    seen: list[SentenceAudio] = []
    assert worker.service is not None
    worker.service.synthesizer.on_sentence = seen.append
    return seen


def test_miss_then_memory_then_redis_with_identical_bytes(
        cached_app: Flask, worker: Worker, clean_redis: RedisServer) -> None:
    client = cached_app.test_client()
    body = {"text": "欢迎致电客户服务中心。", "format": "wav"}
    first = client.post("/api/tts", json=body)
    second = client.post("/api/tts", json=body)
    worker.cache.memory.clear()
    third = client.post("/api/tts", json=body)
    fourth = client.post("/api/tts", json=body)
    assert [r.headers["X-Cache"] for r in (first, second, third, fourth)] == [
        "miss", "hit-memory", "hit-redis", "hit-memory"]
    assert first.data == second.data == third.data == fourth.data
    keys = clean_redis.client().keys("tts:*")
    assert len(keys) == 1
    ttl = clean_redis.client().ttl(keys[0])
    assert 86000 < ttl <= 86400


@pytest.mark.parametrize("change", [
    {"emotion": "happy"}, {"speed": 1.2}, {"format": "flac"}, {"sample_rate": 16000}])
def test_every_request_field_gets_its_own_entry(
        cached_app: Flask, worker: Worker, change: dict[str, object]) -> None:
    client = cached_app.test_client()
    base = {"text": "请注意，列车即将进站。"}
    assert client.post("/api/tts", json=base).status_code == 200
    other = client.post("/api/tts", json={**base, **change})
    assert other.status_code == 200 and other.headers["X-Cache"] == "miss"
    assert client.post("/api/tts", json={**base, **change}).headers["X-Cache"] == "hit-memory"


def test_same_speech_written_differently_shares_an_entry(cached_app: Flask, worker: Worker) -> None:
    client = cached_app.test_client()
    assert client.post("/api/tts", json={"text": "2026年"}).headers["X-Cache"] == "miss"
    assert client.post("/api/tts", json={"text": "二零二六年"}).headers["X-Cache"] == "hit-memory"


def test_truncated_value_in_redis_is_a_miss(
        cached_app: Flask, worker: Worker, clean_redis: RedisServer) -> None:
    client = cached_app.test_client()
    body = {"text": "本次航班预计晚点二十分钟。"}
    good = client.post("/api/tts", json=body).data
    redis = clean_redis.client()
    (key,) = redis.keys("tts:*")
    value = redis.get(key)
    assert isinstance(value, bytes)
    redis.set(key, value[:-100])
    worker.cache.memory.clear()
    again = client.post("/api/tts", json=body)
    assert again.status_code == 200 and again.headers["X-Cache"] == "miss"
    assert again.data == good


def test_redis_down_then_back_never_fails_a_request(
        cached_app: Flask, worker: Worker, clean_redis: RedisServer) -> None:
    client = cached_app.test_client()
    texts = [f"第{n}号窗口请准备。" for n in "一二三四"]
    clean_redis.stop()
    for text in texts:
        response = client.post("/api/tts", json={"text": text})
        assert response.status_code == 200
    # Cached in memory while Redis is down: hits cost no Redis time at all.
    started = time.monotonic()
    for text in texts:
        assert client.post("/api/tts", json={"text": text}).headers["X-Cache"] == "hit-memory"
    assert time.monotonic() - started < 1.0
    readiness = cached_app.test_client().get("/readyz").json or {}
    assert readiness["cache"]["redis"] != "up"
    clean_redis.start()
    time.sleep(6)  # past the circuit breaker's reset time: the next call probes Redis
    worker.cache.memory.clear()
    client.post("/api/tts", json={"text": "恢复之后的第一句话。"})
    client.post("/api/tts", json={"text": "恢复之后的第二句话。"})
    assert len(clean_redis.client().keys("tts:*")) >= 1


def test_hung_redis_costs_at_most_its_timeout(
        cached_app: Flask, worker: Worker, clean_redis: RedisServer) -> None:
    client = cached_app.test_client()
    body = {"text": "系统正在维护，请稍后再试。"}
    client.post("/api/tts", json=body)
    clean_redis.pause()
    try:
        started = time.monotonic()
        for _ in range(5):
            response = client.post("/api/tts", json=body)
            assert response.status_code == 200
        # Memory hits never touch Redis; a miss adds one timeout at most.
        assert time.monotonic() - started < 1.0
        worker.cache.memory.clear()
        started = time.monotonic()
        assert client.post("/api/tts", json=body).status_code == 200
        assert time.monotonic() - started < 3.0
    finally:
        clean_redis.resume()


def test_identical_concurrent_requests_synthesize_once(cached_app: Flask, worker: Worker) -> None:
    seen = count_sentences(worker)
    body = {"text": "二十个人同时问同一句话只合成一次。"}  # one sentence, one clause

    def call(_: int) -> tuple[int, bytes, str]:
        response = cached_app.test_client().post("/api/tts", json=body)
        return response.status_code, response.data, response.headers["X-Cache"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    assert len(seen) == 1
    assert {status for status, _, _ in results} == {200}
    assert len({data for _, data, _ in results}) == 1


def test_long_text_reuses_cached_sentences(cached_app: Flask, worker: Worker) -> None:
    client = cached_app.test_client()
    a, b, c = "春天来了，花都开了。", "小鸟在树上唱歌。", "孩子们在草地上放风筝。"
    assert client.post("/api/tts", json={"text": a + b}).status_code == 200
    seen = count_sentences(worker)
    response = client.post("/api/tts", json={"text": b + c})
    assert response.status_code == 200 and response.headers["X-Cache"] == "miss"
    assert len(seen) == 1  # only the new sentence was synthesized


def test_warm_list_is_cached_after_the_worker_is_ready(voice_dir: Path, tmp_path: Path) -> None:
    phrases = ["欢迎光临。", "请出示您的车票。", "祝您旅途愉快。"]
    warm = tmp_path / "warm.txt"
    warm.write_text("# fixed announcements\n" + "\n".join(phrases) + "\n\n", encoding="utf-8")
    app = started_app(make_settings(voice_dir, cache_warm_file=warm))
    try:
        state: Worker = app.extensions["tts"]
        deadline = time.monotonic() + 30
        while len(state.cache.memory) < len(phrases) and time.monotonic() < deadline:
            time.sleep(0.05)
        for phrase in phrases:
            response = app.test_client().get(f"/api/tts?text={phrase}")
            assert response.headers["X-Cache"] == "hit-memory"
    finally:
        app.extensions["tts"].close()
