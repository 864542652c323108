"""GET and POST of /api/tts are one request, and the response headers (request id,
cache, engine, duration) say what the caller got."""

from __future__ import annotations

import io
import re
import uuid

import pytest
import soundfile as sf
from flask.testing import FlaskClient

from tests.conftest import NATIVE_RATE, SHORT, assert_error, wav_info


def unique_text() -> str:
    """A text no other test has synthesized, so the cache starts cold for it."""
    return f"这是第{uuid.uuid4().int % 10**8}号测试。"


def test_get_and_post_give_identical_bytes(client: FlaskClient) -> None:
    text = unique_text()
    got = client.get("/api/tts", query_string={"text": text, "speed": "1.5", "format": "flac",
                                               "sample_rate": "16000", "emotion": "happy"})
    assert got.status_code == 200 and got.headers["X-Cache"] == "miss"
    posted = client.post("/api/tts", json={"text": text, "speed": 1.5, "format": "flac",
                                           "sample_rate": 16000, "emotion": "happy"})
    assert posted.status_code == 200
    assert posted.headers["X-Cache"] == "hit-memory"  # the same canonical request
    assert posted.data == got.data
    assert posted.headers["Content-Type"] == got.headers["Content-Type"] == "audio/flac"
    assert posted.headers["X-Audio-Duration"] == got.headers["X-Audio-Duration"]
    assert sf.info(io.BytesIO(got.data)).samplerate == 16000


def test_get_defaults_match_post_defaults(client: FlaskClient) -> None:
    got = client.get("/api/tts", query_string={"text": SHORT})
    posted = client.post("/api/tts", json={"text": SHORT})
    assert got.status_code == posted.status_code == 200
    assert got.data == posted.data
    assert wav_info(got.data)[2] == NATIVE_RATE


def test_request_id_echoes_the_callers(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT},
                           headers={"X-Request-ID": "caller-42"})
    assert response.headers["X-Request-ID"] == "caller-42"
    failed = client.post("/api/tts", json={"text": SHORT, "speed": 9},
                         headers={"X-Request-ID": "caller-43"})
    assert_error(failed, 400, "speed")
    assert failed.get_json()["error"]["request_id"] == "caller-43"


@pytest.mark.parametrize("sent", [None, "", "bad\x7fid"])
def test_request_id_is_fresh_when_missing_or_unprintable(client: FlaskClient,
                                                         sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    ids = {client.get("/healthz", headers=headers).headers["X-Request-ID"] for _ in range(2)}
    assert len(ids) == 2, "each request gets its own id"
    for request_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_request_id_is_truncated(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert response.headers["X-Request-ID"] == "x" * 128


def test_cache_header_is_miss_then_hit_memory(client: FlaskClient) -> None:
    body = {"text": unique_text()}
    first = client.post("/api/tts", json=body)
    second = client.post("/api/tts", json=body)
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit-memory"
    assert first.data == second.data


def test_engine_and_device_headers(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT})
    assert response.headers["X-Engine"] == "onnx"
    assert response.headers["X-Device"] == "cpu"
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["X-Audio-Duration"])
