"""One test per error status the API documents: the envelope, the status and a
message naming what was wrong; and 503 when not ready or overloaded, never a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import SHORT, TEXT, assert_error, make_settings, post_raw, started_app, wav_info


@pytest.mark.parametrize(("body", "named"), [
    pytest.param({"text": SHORT, "speed": 3}, ["speed", "0.5", "2.0"], id="speed-range"),
    pytest.param({"text": SHORT, "speed": "fast"}, ["speed"], id="speed-word"),
    pytest.param({"text": SHORT, "speed": True}, ["speed"], id="speed-boolean"),
    pytest.param({"text": SHORT, "format": "wma"}, ["format", "wav", "ogg"], id="format"),
    pytest.param({"text": SHORT, "sample_rate": 44100}, ["sample_rate", "16000", "24000"],
                 id="sample-rate"),
    pytest.param({"text": SHORT, "sample_rate": True}, ["sample_rate"], id="sample-rate-bool"),
    pytest.param({"text": SHORT, "format": "ogg", "sample_rate": 22050}, ["sample_rate", "ogg"],
                 id="ogg-22050"),
    pytest.param({"text": SHORT, "emotion": "joy"}, ["emotion", "neutral", "happy"],
                 id="emotion"),
    pytest.param({"text": SHORT, "pitch": 1.2}, ["pitch", "allowed", "sample_rate"],
                 id="unknown-field"),
    pytest.param({"text": ""}, ["text"], id="empty-text"),
    pytest.param({"text": "   "}, ["text"], id="blank-text"),
    pytest.param({"speed": 1.0}, ["text"], id="missing-text"),
    pytest.param({"text": 42}, ["text"], id="text-number"),
    pytest.param({"text": SHORT, "voice": ["baker-zh"]}, ["voice"], id="voice-not-string"),
])
def test_400_bad_field_names_the_field(client: FlaskClient, body: dict[str, Any],
                                       named: list[str]) -> None:
    assert_error(client.post("/api/tts", json=body), 400, *named)


@pytest.mark.parametrize(("raw", "named"), [
    pytest.param(b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd"', ["JSON"], id="truncated-json"),
    pytest.param(b"", ["JSON"], id="empty-body"),
    pytest.param(b"null", ["JSON"], id="null"),
    pytest.param(b'["text"]', ["object"], id="array"),
    pytest.param(b'"text"', ["object"], id="string"),
    pytest.param(b"42", ["object"], id="number"),
])
def test_400_body_not_a_json_object(client: FlaskClient, raw: bytes, named: list[str]) -> None:
    assert_error(post_raw(client, raw), 400, *named)


def test_400_on_the_query_string_too(client: FlaskClient) -> None:
    response = client.get("/api/tts", query_string={"text": SHORT, "speed": "nan"})
    assert_error(response, 400, "speed")
    response = client.get("/api/tts", query_string={"text": SHORT, "lang": "zh"})
    assert_error(response, 400, "lang")


def test_404_unknown_route(client: FlaskClient) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "/api/nothing-here")


def test_404_unknown_voice_names_the_available_ones(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT, "voice": "nobody"})
    assert_error(response, 404, "voice", "nobody", "baker-zh")


def test_405_wrong_method(client: FlaskClient) -> None:
    assert_error(client.delete("/api/tts"), 405, "DELETE", "/api/tts")
    assert_error(client.get("/api/tts_batch"), 405, "GET")


def test_413_text_over_the_limit(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_text_chars
    response = client.post("/api/tts", json={"text": "好" * (limit + 1)})
    assert_error(response, 413, "text", str(limit), str(limit + 1))


def test_413_body_over_the_limit(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_body_bytes
    body = b'{"text": "' + b"a" * limit + b'"}'
    assert_error(post_raw(client, body), 413, "body", str(limit))


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_415_body_not_json(client: FlaskClient, content_type: str) -> None:
    response = client.post("/api/tts", data="text=hello", content_type=content_type)
    assert_error(response, 415, "JSON", "Content-Type")


@pytest.mark.parametrize("text", ["😀😂🎉", "。，！？……", "\x00\x01\x02", "\u200b\u200b", "<>"])
def test_422_nothing_speakable(client: FlaskClient, text: str) -> None:
    assert_error(client.post("/api/tts", json={"text": text}), 422, "speakable")


def test_503_while_not_ready(stopped_app: Flask) -> None:
    client = stopped_app.test_client()
    response = client.post("/api/tts", json={"text": SHORT}, headers={"X-Request-ID": "warm"})
    assert_error(response, 503, "warming up")
    assert response.get_json()["error"]["request_id"] == "warm"
    assert int(response.headers["Retry-After"]) >= 1
    assert_error(client.get("/api/voices"), 503)
    assert client.get("/healthz").status_code == 200  # liveness never waits on the engine


def test_draining_worker_is_unready_but_still_serves(app: Flask, client: FlaskClient) -> None:
    worker = app.extensions["tts"]
    worker.draining = True  # what SIGTERM handling sets; restored below
    try:
        response = client.post("/api/tts", json={"text": SHORT})
        readiness = client.get("/readyz")
        liveness = client.get("/healthz")
    finally:
        worker.draining = False
    assert response.status_code == 200 and response.data[:4] == b"RIFF"  # not dropped
    assert readiness.status_code == 503 and readiness.get_json()["draining"] is True
    assert liveness.status_code == 200
    assert client.get("/readyz").status_code == 200


def test_saturated_worker_refuses_new_text_before_the_front_end_but_serves_hits(
        voice_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flask_app = started_app(make_settings(voice_dir, inference_threads=1, queue_size=0))
    worker = flask_app.extensions["tts"]
    client = flask_app.test_client()
    assert client.post("/api/tts", json={"text": TEXT}).headers["X-Cache"] == "miss"
    planned: list[str] = []
    frontend = worker.service.synthesizer.frontend
    split = frontend.first_clause_split

    def spy(text: str) -> Any:
        planned.append(text)
        return split(text)

    monkeypatch.setattr(frontend, "first_clause_split", spy)
    release = threading.Event()
    holder = threading.Thread(target=worker.pool.run, args=(release.wait, 30.0))
    try:
        holder.start()
        while not worker.pool.saturated:
            time.sleep(0.01)
        started = time.perf_counter()
        refused = client.post("/api/tts", json={"text": "新的一句话，还没有合成过。"})
        refused_s = time.perf_counter() - started
        hit = client.post("/api/tts", json={"text": TEXT})
    finally:
        release.set()
        holder.join(30)
        worker.close()
    assert_error(refused, 503, "overloaded")
    assert refused_s < 0.5 and planned == []  # no front-end work for a refused request
    assert hit.status_code == 200 and hit.headers["X-Cache"] == "hit-memory"


def test_503_when_overloaded_and_never_500(voice_dir: Path) -> None:
    flask_app = started_app(make_settings(voice_dir, inference_threads=1, queue_size=0))
    callers = 8
    barrier = threading.Barrier(callers)
    outcomes: list[tuple[TestResponse, float]] = []
    lock = threading.Lock()

    def call(index: int) -> None:
        client = flask_app.test_client()
        barrier.wait()
        started = time.perf_counter()
        response = client.post("/api/tts",
                               json={"text": f"今天天气很好我们一起去公园散步这是第{index}遍。"})
        with lock:
            outcomes.append((response, time.perf_counter() - started))

    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        flask_app.extensions["tts"].close()
    statuses = sorted(response.status_code for response, _ in outcomes)
    assert len(statuses) == callers
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    for response, seconds in outcomes:
        if response.status_code == 200:
            assert wav_info(response.data)[3] > 0
            continue
        assert_error(response, 503, "overloaded")
        assert int(response.headers["Retry-After"]) >= 1
        assert seconds < 1.0, f"refusal took {seconds:.2f} s; it should be immediate"
