from __future__ import annotations

import re
from typing import Any

import pytest

from cache.keys import lock_key, request_key

BASE: dict[str, Any] = {
    "text": "你好，世界。",
    "voice": "zh-female-1",
    "emotion": "neutral",
    "speed": 1.0,
    "fmt": "wav",
    "sample_rate": 22050,
    "engine": "onnx",
    "model_hash": "3f2a9c",
}


def test_key_shape_and_stability() -> None:
    key = request_key(**BASE)
    assert re.fullmatch(r"tts:[0-9a-f]{32}", key)
    assert request_key(**BASE) == key
    # Keyword order does not matter, and the value is pinned so a refactor that
    # changes the canonical form (and silently invalidates every cache) shows up here.
    assert request_key(**dict(reversed(list(BASE.items())))) == key
    assert key == "tts:214b4d039c91c52993768064f36d61ed"


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("text", "你好，世界！"),
        ("voice", "zh-male-1"),
        ("emotion", "happy"),
        ("speed", 1.25),
        ("fmt", "mp3"),
        ("sample_rate", 16000),
        ("engine", "sambert"),
        ("model_hash", "3f2a9d"),
    ],
)
def test_every_field_changes_the_key(field: str, other: object) -> None:
    assert request_key(**{**BASE, field: other}) != request_key(**BASE)


def test_speed_rounded_to_three_decimals() -> None:
    assert request_key(**{**BASE, "speed": 1.0000001}) == request_key(**BASE)
    assert request_key(**{**BASE, "speed": 1}) == request_key(**BASE)
    assert request_key(**{**BASE, "speed": 1.001}) != request_key(**BASE)


def test_text_is_nfc_normalized() -> None:
    composed = request_key(**{**BASE, "text": "caf\u00e9"})
    decomposed = request_key(**{**BASE, "text": "cafe\u0301"})
    assert composed == decomposed


def test_non_finite_speed_rejected() -> None:
    with pytest.raises(ValueError):
        request_key(**{**BASE, "speed": float("nan")})


def test_lock_key() -> None:
    key = request_key(**BASE)
    assert lock_key(key) == "tts:lock:" + key[len("tts:") :]
