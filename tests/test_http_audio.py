"""What /api/tts returns: playable audio in every format and sample rate, at the
requested speed and emotion, through the real app and ONNX voice (nothing mocked)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf
from flask.testing import FlaskClient

from tests.conftest import NATIVE_RATE, SHORT, TEXT, assert_error, header_duration, wav_info
from tts.audio import FORMATS, SAMPLE_RATES, join
from tts.emotions import Prosody
from tts.engines.onnx_engine import OnnxEngine
from tts.voices import Voice

CONTENT_TYPES = {"wav": "audio/wav", "pcm": "audio/L16", "flac": "audio/flac",
                 "mp3": "audio/mpeg", "ogg": "audio/ogg", "aac": "audio/aac"}


def syllables(client: FlaskClient, text: str) -> int:
    response = client.post("/api/frontend", json={"text": text})
    assert response.status_code == 200
    return sum(len(s["pinyin"]) for s in response.get_json()["sentences"])


def test_post_returns_playable_wav_at_the_voice_rate(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": TEXT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/wav"
    channels, width, rate, frames = wav_info(response.data)
    assert (channels, width, rate) == (1, 2, NATIVE_RATE)
    info = sf.info(io.BytesIO(response.data))
    assert (info.samplerate, info.channels, info.subtype) == (NATIVE_RATE, 1, "PCM_16")
    audio, _ = sf.read(io.BytesIO(response.data), dtype="int16")
    assert len(audio) == frames
    assert abs(frames / rate - header_duration(response)) <= 0.001
    assert abs(audio).max() > 1000, "the audio is (nearly) silent"
    per_second = syllables(client, TEXT) / header_duration(response)
    assert 3.5 <= per_second <= 6.0, f"{per_second:.2f} syllables/s"


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_sample_rate_sets_the_wav_rate_and_keeps_the_duration(client: FlaskClient,
                                                              rate: int) -> None:
    native = client.post("/api/tts", json={"text": SHORT})
    response = client.post("/api/tts", json={"text": SHORT, "sample_rate": rate})
    assert response.status_code == 200
    channels, width, got_rate, frames = wav_info(response.data)
    assert (channels, width, got_rate) == (1, 2, rate)
    assert abs(frames / rate - header_duration(response)) <= 0.001
    assert abs(frames / rate - header_duration(native)) <= 0.002


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_has_its_content_type_and_decodes(client: FlaskClient, fmt: str) -> None:
    wav = client.post("/api/tts", json={"text": SHORT})
    _, _, _, wav_frames = wav_info(wav.data)
    response = client.post("/api/tts", json={"text": SHORT, "format": fmt})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    assert header_duration(response) == header_duration(wav)
    if fmt == "pcm":  # headerless s16le: exactly the wav's samples
        assert len(response.data) == wav_frames * 2
        return
    if fmt == "aac":  # ADTS frames, decoded by FFmpeg (libsndfile reads no AAC)
        assert response.data[0] == 0xFF and response.data[1] & 0xF0 == 0xF0
        with av.open(io.BytesIO(response.data), mode="r") as container:
            frames = list(container.decode(audio=0))
        assert frames[0].sample_rate == NATIVE_RATE
        decoded_s = sum(f.samples for f in frames) / NATIVE_RATE
        assert abs(decoded_s - header_duration(response)) <= 0.1
        return
    magic = {"wav": b"RIFF", "flac": b"fLaC", "ogg": b"OggS"}
    if fmt in magic:
        assert response.data.startswith(magic[fmt])
    else:  # mp3: an ID3 tag or an MPEG frame sync
        head = response.data
        assert head.startswith(b"ID3") or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
    assert rate == NATIVE_RATE and audio.ndim == 1
    lossless = fmt in ("wav", "flac")
    assert abs(len(audio) / rate - header_duration(response)) <= (0.001 if lossless else 0.06)
    assert abs(audio).max() > 0.03, "decoded audio is silent"


def test_ogg_at_22050_is_refused_naming_sample_rate(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT, "format": "ogg",
                                             "sample_rate": 22050})
    assert_error(response, 400, "sample_rate", "22050", "ogg", "16000")


def test_speed_two_halves_the_duration(client: FlaskClient) -> None:
    normal = header_duration(client.post("/api/tts", json={"text": TEXT}))
    fast = header_duration(client.post("/api/tts", json={"text": TEXT, "speed": 2.0}))
    assert 0.4 <= fast / normal <= 0.6


def test_a_long_clause_said_slowly_is_cut_in_two_not_refused(client: FlaskClient) -> None:
    # 60 syllables with no punctuation, as slow as the API allows: more mel frames than
    # the acoustic model's 2048 positions (found by schemathesis: it was a 500).
    body = {"text": "零" * 60, "emotion": "sad", "speed": 0.5}
    whole = client.post("/api/tts", json=body)
    assert whole.status_code == 200, whole.data[:200]
    assert 1.0 <= 60 / header_duration(whole) <= 2.5  # slow, and every syllable said
    streamed = client.post("/api/tts/stream", json={**body, "format": "pcm"})
    assert streamed.status_code == 200
    assert abs(len(streamed.data) / 2 / NATIVE_RATE - header_duration(whole)) < 0.05


def test_every_listed_emotion_is_accepted(client: FlaskClient) -> None:
    voice = client.get("/api/voices").get_json()["voices"][0]
    for emotion in voice["emotions"]:
        response = client.post("/api/tts", json={"text": "好。", "emotion": emotion})
        assert response.status_code == 200, (emotion, response.data[:200])
        assert wav_info(response.data)[3] > 0


LONG = ("今年前三季度国内生产总值同比增长百分之五点二，其中第三季度增长百分之四点九，"
        "消费对经济增长的贡献率超过六成，服务业和高技术制造业保持较快发展。")


def test_frontend_shows_the_pieces_synthesis_says(client: FlaskClient, engine: OnnxEngine,
                                                   voice: Voice) -> None:
    """Saying /api/frontend's pieces one by one with their pauses gives /api/tts's audio."""
    pieces = client.post("/api/frontend", json={"text": LONG}).get_json()["sentences"]
    assert len(pieces) >= 3 and all(len(p["pinyin"]) <= 20 for p in pieces)
    ids = [[voice.symbol_to_id[ph] for ph in p["phones"]] for p in pieces]
    assert any(p["tight_end"] for p in pieces)  # a clause cut between words
    said = [engine.synthesize(voice.name, p["text"], i,
                              Prosody(tight_start=p["tight_start"], tight_end=p["tight_end"])
                              ).audio for p, i in zip(pieces, ids, strict=True)]
    expected = np.round(join(said, [p["pause_s"] for p in pieces], NATIVE_RATE) * 32767)
    response = client.post("/api/tts", json={"text": LONG, "format": "pcm"})
    got = np.frombuffer(response.data, dtype="<i2").astype(np.float64)
    assert len(got) == len(expected)
    assert np.abs(got - expected).max() <= 2
