"""Shared fixtures: the real built voice, one warmed engine, and the app.

The voice is built by `make test` before pytest starts (`make voice`); these
fixtures load it and fail with the command to run if it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from config import Settings
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.voices import Voice
from tts.voices.build import default_voice_dir
from tts.voices.manifest import is_valid

pytest_plugins = ["tests.redis_fixture", "tests.gunicorn_server"]


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
