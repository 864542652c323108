"""The routes around synthesis: the voice list, the front end's reading, and the
liveness and readiness probes."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import NATIVE_RATE, assert_error
from tts.emotions import EMOTIONS


def test_voices_list_the_voice(client: FlaskClient) -> None:
    response = client.get("/api/voices")
    assert response.status_code == 200
    voices = response.get_json()["voices"]
    assert [v["name"] for v in voices] == ["baker-zh"]
    voice = voices[0]
    assert voice["language"].startswith("zh")
    assert voice["sample_rate"] == NATIVE_RATE
    assert voice["engine"] == "onnx"
    assert voice["default"] is True
    assert "neutral" in voice["emotions"] and set(voice["emotions"]) <= set(EMOTIONS)


def test_frontend_reads_polyphones(client: FlaskClient) -> None:
    response = client.post("/api/frontend", json={"text": "银行行长"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["normalized"] == "银行行长"
    [sentence] = body["sentences"]
    assert sentence["pinyin"] == ["yin2", "hang2", "hang2", "zhang3"]
    assert {"h", "ang2", "zh", "ang3"} <= set(sentence["phones"])


def test_frontend_normalizes_numbers(client: FlaskClient) -> None:
    body = client.post("/api/frontend", json={"text": "2026年3月5日"}).get_json()
    assert body["normalized"].startswith("二零二六年三月五日")
    pinyin = [p for s in body["sentences"] for p in s["pinyin"]]
    assert pinyin[:5] == ["er4", "ling2", "er4", "liu4", "nian2"]


def test_frontend_errors(client: FlaskClient) -> None:
    assert_error(client.post("/api/frontend", json={"text": "😀"}), 422, "speakable")
    assert_error(client.post("/api/frontend", json={"text": "好", "x": 1}), 400, "'x'")
    assert_error(client.post("/api/frontend", json={}), 400, "text")
    assert_error(client.post("/api/frontend", data="text=好"), 415)


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_ready(app: Flask, client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ready"] is True and body["draining"] is False
    assert (body["engine"], body["device"], body["degraded"]) == ("onnx", "cpu", False)
    assert body["cache"]["memory"]["max_bytes"] > 0
    assert body["cache"]["redis"] == "disabled"
    settings = app.extensions["tts"].settings
    # Bounded by count, and by expected wait once the cost of a request is known.
    threads = settings.inference_threads
    assert 2 * threads <= body["queue"]["capacity"] <= threads + settings.queue_size
    assert {"in_flight", "queued"} <= set(body["queue"])


def test_readyz_503_when_not_started(stopped_app: Flask) -> None:
    response = stopped_app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False
    assert body["engine"] == "onnx" and body["device"] is None
    assert "cache" in body and "queue" in body


def test_ssml_tags_are_not_read_aloud(client: FlaskClient) -> None:
    plain = client.post("/api/frontend", json={"text": "你好"}).get_json()
    ssml = client.post("/api/frontend", json={"text": "<speak>你好</speak>"}).get_json()
    assert ssml["sentences"][0]["pinyin"] == plain["sentences"][0]["pinyin"]
