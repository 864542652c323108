"""Fixtures for the front-end tests: the built voice's tables and one shared Frontend."""

from __future__ import annotations

import pytest

from tts.frontend import Frontend
from tts.voices import Voice


@pytest.fixture(scope="session")
def voice_tables(voice: Voice) -> tuple[dict[str, int], dict[str, list[str]]]:
    return voice.symbol_to_id, voice.pinyin_dict


@pytest.fixture(scope="session")
def frontend(voice_frontend: Frontend) -> Frontend:
    return voice_frontend
