"""/api/tts_batch: items keep their order, a bad item fails alone, and the
envelope (format, sample rate, item count) is checked as a whole."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
import soundfile as sf
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import NATIVE_RATE, assert_error, wav_info
from tts import errors


def test_batch_keeps_order_and_isolates_bad_items(client: FlaskClient) -> None:
    items: list[Any] = [
        {"text": "你好。"},
        {"text": ""},
        {"text": "好。", "speed": 9},
        {"text": "好。", "voice": "nobody"},
        {"text": "好。", "pitch": 2},
        "not an object",
        {"text": "再见。", "emotion": "sad"},
        {"text": "你好。"},
        {"text": "😀"},
    ]
    response = client.post("/api/tts_batch", json={"items": items})
    assert response.status_code == 200
    body = response.get_json()
    assert body["format"] == "wav"
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["ok"] for r in results] == [True, False, False, False, False, False, True, True,
                                          False]
    expected_errors = {1: (400, "items[1].text"), 2: (400, "items[2].speed"),
                       3: (404, "items[3].voice"), 4: (400, "pitch"), 5: (400, "items[5]"),
                       8: (422, "nothing speakable")}
    for index, (status, named) in expected_errors.items():
        error = results[index]["error"]
        assert error["status"] == status, error
        assert error["code"] == errors.BY_STATUS[status].code
        assert named in error["message"], error
        assert "audio_base64" not in results[index]
    assert "items[4]" in results[4]["error"]["message"]
    for index in (0, 6, 7):
        audio = base64.b64decode(results[index]["audio_base64"])
        channels, width, rate, frames = wav_info(audio)
        assert (channels, width, rate) == (1, 2, NATIVE_RATE) and frames > 0
        assert abs(frames / rate - results[index]["duration_s"]) <= 0.001
        assert results[index]["cache"] in ("miss", "hit-memory", "hit-redis")
    assert results[0]["audio_base64"] == results[7]["audio_base64"]  # duplicates identical
    single = client.post("/api/tts", json={"text": "你好。"})
    assert base64.b64decode(results[0]["audio_base64"]) == single.data


def test_batch_format_and_rate_apply_to_every_item(client: FlaskClient) -> None:
    response = client.post("/api/tts_batch", json={
        "items": [{"text": "一。"}, {"text": "二。", "speed": 1.5}],
        "format": "flac", "sample_rate": 16000})
    assert response.status_code == 200
    body = response.get_json()
    assert body["format"] == "flac"
    for result in body["results"]:
        assert result["ok"], result
        audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])))
        assert rate == 16000 and len(audio) > 0


def test_batch_with_too_many_items_is_413_naming_the_limit(app: Flask,
                                                            client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_batch_items
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}] * (limit + 1)})
    assert_error(response, 413, "items", str(limit), str(limit + 1))


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": None}, {"items": "好"},
                                  {"items": {"text": "好"}}])
def test_batch_without_items_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/tts_batch", json=body), 400, "items")


def test_batch_envelope_fields_are_checked(client: FlaskClient) -> None:
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}], "format": "ogg",
                                                   "sample_rate": 22050})
    assert_error(response, 400, "sample_rate", "ogg")
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}], "speed": 1})
    assert_error(response, 400, "speed", "items")
