"""Emotion presets measurably differ from neutral in the documented directions.

Measured as bench/emotions.py does (YIN F0, speech RMS, syllables per second),
over three sentences so the test stays quick; the 20-sentence table is in
README ("Emotions") and bench/results/emotions.md.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tts.emotions import EMOTIONS, PRESETS, prosody_for
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.testing.emotions import Row, corpus_lines, measure_emotion


@pytest.fixture(scope="module")
def rows(engine: OnnxEngine, voice_frontend: Frontend) -> dict[str, Row]:
    lines = corpus_lines(3)
    return {e: measure_emotion(engine, voice_frontend, lines, e)
            for e in ("neutral", "happy", "sad", "angry", "surprise", "calm")}


def test_happy_is_higher_and_livelier(rows: dict[str, Row]) -> None:
    happy, neutral = rows["happy"], rows["neutral"]
    assert happy.f0_mean_hz > neutral.f0_mean_hz * 1.06
    assert happy.f0_std_hz > neutral.f0_std_hz * 1.15
    assert happy.syllables_per_s > neutral.syllables_per_s * 1.05


def test_sad_is_lower_flatter_slower_and_softer(rows: dict[str, Row]) -> None:
    sad, neutral = rows["sad"], rows["neutral"]
    assert sad.f0_mean_hz < neutral.f0_mean_hz * 0.95
    assert sad.f0_std_hz < neutral.f0_std_hz * 0.95
    assert sad.syllables_per_s < neutral.syllables_per_s * 0.88
    assert sad.rms_db < neutral.rms_db - 1.5


def test_angry_is_louder_and_faster(rows: dict[str, Row]) -> None:
    angry, neutral = rows["angry"], rows["neutral"]
    assert angry.rms_db > neutral.rms_db + 3.0
    assert angry.syllables_per_s > neutral.syllables_per_s * 1.1


def test_surprise_is_highest_and_calm_is_slower(rows: dict[str, Row]) -> None:
    assert rows["surprise"].f0_mean_hz > rows["happy"].f0_mean_hz
    assert rows["surprise"].f0_std_hz > rows["happy"].f0_std_hz
    assert rows["calm"].syllables_per_s < rows["neutral"].syllables_per_s * 0.95


def test_intensity_scales_the_distance_from_neutral() -> None:
    assert prosody_for("happy", 0.0).pitch == 1.0
    assert prosody_for("sad", 2.0).speed == pytest.approx(1 - 2 * (1 - PRESETS["sad"].speed))
    assert all(v > 0 for e in EMOTIONS for v in
               (prosody_for(e, 2.0).speed, prosody_for(e, 2.0).f0, prosody_for(e, 2.0).gain))


def test_request_emotion_through_http(client: FlaskClient) -> None:
    neutral = client.post("/api/tts", json={"text": "我们一起去公园散步吧。"})
    sad = client.post("/api/tts", json={"text": "我们一起去公园散步吧。", "emotion": "sad"})
    assert float(sad.headers["X-Audio-Duration"]) > \
        float(neutral.headers["X-Audio-Duration"]) * 1.1
