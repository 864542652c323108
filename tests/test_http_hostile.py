"""Nothing a caller sends is a 500: hostile JSON, query strings, batches and long
strings of unspeakable characters all get a documented status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import assert_error, header_duration, make_settings, post_raw, started_app

# Statuses the contract allows for something a caller sends to a ready, unloaded worker.
CALLER_STATUSES = {200, 400, 404, 413, 415, 422}


@pytest.fixture(scope="module")
def roomy_app(voice_dir: Path) -> Iterator[Flask]:
    """Text limit above 10k characters, for hostile long strings within the limits."""
    flask_app = started_app(make_settings(voice_dir, max_text_chars=12000))
    yield flask_app
    flask_app.extensions["tts"].close()


def _nested(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE_BODIES: list[Any] = [
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": 1e308}', id="speed-1e308"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": -1e999}', id="speed-minus-inf"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": NaN}', id="speed-NaN-literal"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": Infinity}', id="speed-Infinity"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": "NaN"}', id="speed-nan-string"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": "1e400"}', id="speed-1e400-string"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": 1' + b"0" * 400 + b"}", id="speed-huge-int"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "speed": 1' + b"0" * 5000 + b"}",
                 id="speed-int-over-digit-limit"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "sample_rate": 1' + b"0" * 400 + b"}",
                 id="rate-huge-int"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "sample_rate": 24000.5}', id="rate-fraction"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "sample_rate": -24000}', id="rate-negative"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "sample_rate": "24000"}', id="rate-string"),
    pytest.param(b'{"text": {"a": {"b": [1, {"c": null}]}}}', id="text-nested-object"),
    pytest.param(b'{"text": ["\xe4\xbd\xa0", "\xe5\xa5\xbd"]}', id="text-array"),
    pytest.param(b'{"text": null}', id="text-null"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "voice": {"name": "baker-zh"}}', id="voice-object"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "voice": 7}', id="voice-number"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "voice": "\\ud800"}', id="voice-lone-surrogate"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "emotion": ["happy"]}', id="emotion-array"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "format": {"wav": 1}}', id="format-object"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "format": null}', id="format-null"),
    pytest.param(b'{"text": "\xe5\xa5\xbd", "\\ud800": 1}', id="key-lone-surrogate"),
    pytest.param(_nested(100_000), id="nested-100k"),
    pytest.param(_nested(50), id="nested-50"),
    pytest.param(b'{"text": "\\ud800"}', id="text-lone-surrogate"),
    pytest.param(b'{"text": "\\udfff\xe4\xbd\xa0\xe5\xa5\xbd\\ud800"}', id="text-surrogates"),
    pytest.param(b'{"text": "\\u0000\\u0007\\u001b[31m\xe5\xa5\xbd\\r\\n\\t"}', id="control"),
    pytest.param(b'{"text": "\\u202e\xe4\xbd\xa0\\u0301\\u200d\xe5\xa5\xbd"}', id="bidi"),
    pytest.param(b'{"text": "%s"}' % ("😀" * 2000).encode(), id="emoji-2000"),
    pytest.param(b'{"text": "' + b"\\ud83d\\ude00" * 2000 + b'"}', id="emoji-escaped-2000"),
    pytest.param(b'{"text": "' + b"<" * 2000 + b'"}', id="lt-2000"),
    pytest.param(b'{"text": "<speak><break time=\\"99999s\\"/>\xe5\xa5\xbd</speak>"}',
                 id="ssml-huge-break"),
    pytest.param(b'{"text": "<script>alert(1)</script>\xe5\xa5\xbd"}', id="script-tag"),
    pytest.param(b'{"text": "<phoneme ph=\\"zzz9\\">\xe8\xa1\x8c</phoneme>"}', id="bad-phoneme"),
    pytest.param(b'{"text": "' + b"9" * 200 + b'"}', id="digits-200"),
    pytest.param(b'{"text": "-0.0000001e-99% 1/0 \xef\xbc\x91\xef\xbc\x92"}', id="numbers"),
    pytest.param(b'{"text": "%s%n{0}{text}\\\\x00"}', id="format-strings"),
    pytest.param(b'{"text": "\xe4\xbd\xa0", "text": "\xe5\xa5\xbd"}', id="duplicate-key"),
    pytest.param(b"\xff\xfe\x00{", id="not-utf8"),
    pytest.param(b'{"text": "\xff\xfe"}', id="bad-utf8-in-string"),
    pytest.param(b"", id="empty"),
    pytest.param(b"   ", id="whitespace"),
]


def assert_caller_status(response: TestResponse) -> None:
    assert response.status_code in CALLER_STATUSES, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize("body", HOSTILE_BODIES)
@pytest.mark.parametrize("path", ["/api/tts", "/api/frontend"])
def test_hostile_json_is_never_a_500(client: FlaskClient, path: str, body: bytes) -> None:
    response = post_raw(client, body, path)
    assert_caller_status(response)
    if path == "/api/tts" and response.status_code == 200:
        assert response.headers["Content-Type"].startswith("audio/")
        assert header_duration(response) > 0


@pytest.mark.parametrize("query", [
    "text=%00%01", "text=%ff%fe", "text=%ED%A0%80", "text=&speed=nan", "speed=1",
    "text=a&speed=1e999", "text=a&sample_rate=abc", "text=a&text=b", "text=a&format=",
    "text=%3Cspeak%3E", "text=" + "9" * 100, "text=a&voice=%00",
])
def test_hostile_query_is_never_a_500(client: FlaskClient, query: str) -> None:
    assert_caller_status(client.get(f"/api/tts?{query}"))


@pytest.mark.parametrize("body", [
    pytest.param(b'{"items": [null, [], "x", 5, {"text": NaN}, {"text": {"a": 1}}]}',
                 id="junk-items"),
    pytest.param(b'{"items": [{"text": "\\ud800"}, {"text": "\xe5\xa5\xbd", "voice": []}]}',
                 id="surrogate-and-list-voice"),
    pytest.param(b'{"items": [{"text": "\xe5\xa5\xbd"}], "format": ["wav"]}', id="format-list"),
    pytest.param(b'{"items": [{"text": "\xe5\xa5\xbd"}], "sample_rate": 1' + b"0" * 400 + b"}",
                 id="rate-huge-int"),
    pytest.param(b'{"items": [{"text": "\xe5\xa5\xbd", "speed": 1' + b"0" * 400 + b"}]}",
                 id="item-speed-huge-int"),
    pytest.param(b'{"items": [' + b",".join([b"[[[[]]]]"] * 32) + b"]}", id="nested-items"),
    pytest.param(b'{"items": 1e999}', id="items-inf"),
])
def test_hostile_batch_is_never_a_500(client: FlaskClient, body: bytes) -> None:
    response = post_raw(client, body, "/api/tts_batch")
    assert_caller_status(response)
    if response.status_code == 200:
        for result in response.get_json()["results"]:
            if not result["ok"]:
                status = result["error"]["status"]
                assert status in CALLER_STATUSES - {200}, result


@pytest.mark.parametrize("text", [
    pytest.param("😀" * 10_000, id="emoji-10k"),
    pytest.param("😀" * 9_999 + "好", id="emoji-10k-and-one-word"),
    pytest.param("<" * 5_000 + ">" * 5_000, id="angle-brackets-10k"),
    pytest.param("\u202e\u0301" * 5_000, id="bidi-combining-10k"),
])
def test_10k_hostile_characters_within_the_limit(roomy_app: Flask, text: str) -> None:
    client = roomy_app.test_client()
    started = time.perf_counter()
    response = client.post("/api/tts", json={"text": text})
    assert_caller_status(response)
    assert response.status_code in (200, 422)
    assert time.perf_counter() - started < 5.0


def test_10k_emoji_as_json_escapes(roomy_app: Flask) -> None:
    body = b'{"text": "' + b"\\ud83d\\ude00" * 10_000 + b'"}'
    assert_error(post_raw(roomy_app.test_client(), body), 422, "10000 characters")
