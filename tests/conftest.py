"""Shared fixtures: the real built voice, one warmed engine, and the app; and the
checks the HTTP API tests (tests/test_http_*.py) all make of a response. Those
tests hold the app to the contract in /work/shared/API.md through Flask's test
client, the real parser, cache and ONNX engine; nothing is mocked.

The voice is built by `make test` before pytest starts (`make voice`); these
fixtures load it and fail with the command to run if it is missing.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from config import Settings
from tts import errors
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.voices import Voice
from tts.voices.build import default_voice_dir
from tts.voices.manifest import is_valid

pytest_plugins = ["tests.redis_fixture", "tests.gunicorn_server"]

# Texts and the voice's rate the HTTP API tests share.
TEXT = "今天天气很好，我们一起去公园散步。"  # 15 syllables, about 3.4 s
SHORT = "你好。"
NATIVE_RATE = 24000


@pytest.fixture(scope="session")
def voice_dir() -> Path:
    path = default_voice_dir()
    if not is_valid(path):
        pytest.fail(f"no valid voice at {path}: run `make voice` first")
    return path


@pytest.fixture(scope="session")
def voice(voice_dir: Path) -> Voice:
    return Voice.load(voice_dir)


@pytest.fixture(scope="session")
def engine(voice_dir: Path) -> OnnxEngine:
    loaded = OnnxEngine.load(voice_dir, device="cpu", threads=2)
    loaded.warm_up()
    return loaded


@pytest.fixture(scope="session")
def voice_frontend(voice: Voice) -> Frontend:
    return Frontend(voice.symbol_to_id, voice.pinyin_dict)


def make_settings(voice_dir: Path, **overrides: object) -> Settings:
    """Settings as the service would read them from an empty environment, plus overrides."""
    return Settings.from_env({"TTS_VOICE_DIR": str(voice_dir)}, **overrides)


def started_app(settings: Settings) -> Flask:
    app = create_app(settings)
    assert app.extensions["tts"].wait_ready(120), app.extensions["tts"].error
    return app


@pytest.fixture(scope="session")
def app(voice_dir: Path) -> Iterator[Flask]:
    flask_app = started_app(make_settings(voice_dir, queue_size=64))
    yield flask_app
    flask_app.extensions["tts"].close()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def stopped_app(voice_dir: Path) -> Iterator[Flask]:
    """An app whose engine was never started: the worker is not ready."""
    flask_app = create_app(make_settings(voice_dir), start=False)
    yield flask_app
    flask_app.extensions["tts"].close()


def assert_error(response: TestResponse, status: int, *named: str) -> str:
    """The documented envelope with `status`; the message contains every `named` string."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}, error
    assert error["code"] == errors.BY_STATUS[status].code
    assert error["request_id"] and error["request_id"] == response.headers["X-Request-ID"]
    message: str = error["message"]
    for word in named:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def post_raw(client: FlaskClient, body: bytes, path: str = "/api/tts") -> TestResponse:
    """POST bytes as JSON, so tests can send what json.dumps never would (NaN, lone \\ud800)."""
    return client.post(path, data=body, content_type="application/json")


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample width in bytes, rate, frames), read by the stdlib parser."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        assert reader.getcomptype() == "NONE"
        return (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                reader.getnframes())


def header_duration(response: TestResponse) -> float:
    return float(response.headers["X-Audio-Duration"])
