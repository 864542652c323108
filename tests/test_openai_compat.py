"""The official `openai` SDK against the service over real HTTP on a free port."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import miniaudio
import numpy as np
import openai
import pytest
import requests
import soundfile as sf
from werkzeug.serving import make_server

from tests.conftest import make_settings, started_app

TEXT = "欢迎使用语音合成服务，今天天气很好。"


@pytest.fixture(scope="module")
def base_url(voice_dir: Path) -> Iterator[str]:
    app = started_app(make_settings(voice_dir, queue_size=16))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    app.extensions["tts"].close()


@pytest.fixture()
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def seconds_of(data: bytes, fmt: str) -> float:
    """Decode with a decoder independent of the encoder where one exists."""
    if fmt == "mp3":
        decoded = miniaudio.mp3_read_s16(data)
        return float(decoded.num_frames / decoded.sample_rate)
    if fmt == "aac":
        with av.open(io.BytesIO(data), mode="r") as container:
            frames = list(container.decode(audio=0))
        return sum(f.samples for f in frames) / frames[0].sample_rate
    if fmt == "pcm":  # OpenAI's pcm: 24 kHz, 16-bit little-endian mono
        return len(data) / 2 / 24000
    audio, rate = sf.read(io.BytesIO(data))
    return float(len(audio) / rate)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_speech_create_in_every_format(client: openai.OpenAI, fmt: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                          response_format=fmt)  # type: ignore[arg-type]
    assert 2.0 < seconds_of(response.content, fmt) < 6.0


def test_default_format_is_mp3_and_own_names_work(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(model="onnx", voice="baker-zh", input="你好。")
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert seconds_of(response.content, "mp3") > 0.3


def test_streaming_response_arrives_in_chunks(client: openai.OpenAI) -> None:
    long_text = TEXT * 4
    with client.audio.speech.with_streaming_response.create(
            model="tts-1-hd", voice="nova", input=long_text, response_format="pcm") as response:
        chunks = list(response.iter_bytes(chunk_size=None))
    assert len(chunks) > 3
    assert len(b"".join(chunks)) / 2 / 24000 > 8


def test_speed_is_folded_into_what_the_voice_can_do(client: openai.OpenAI) -> None:
    def seconds(speed: float) -> float:
        data = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                          response_format="pcm", speed=speed).content
        return len(data) / 2 / 24000

    normal, fastest, slowest = seconds(1.0), seconds(4.0), seconds(0.25)
    assert fastest < 0.6 * normal and slowest > 1.6 * normal
    assert seconds(4.0) == fastest  # 4.0 maps to the voice's top speed (2.0): stable


def test_instructions_pick_an_emotion(client: openai.OpenAI) -> None:
    plain = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=TEXT,
                                       response_format="pcm").content
    happy = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=TEXT,
                                       response_format="pcm",
                                       instructions="Speak in a cheerful, happy tone.").content
    assert plain != happy


def test_sse_stream_format(base_url: str) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "pcm",
            "stream_format": "sse"}
    with requests.post(base_url + "/v1/audio/speech", json=body, stream=True,
                       timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [str(line) for line in response.iter_lines(decode_unicode=True)]
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    deltas = [e for e in events[:-1] if e["type"] == "speech.audio.delta"]
    assert len(deltas) == len(events) - 1 >= 2
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert 2.0 < len(audio) / 2 / 24000 < 6.0


def test_errors_use_openai_shape(client: openai.OpenAI, base_url: str) -> None:
    with pytest.raises(openai.BadRequestError) as bad_model:
        client.audio.speech.create(model="whisper-1", voice="alloy", input="你好")
    assert bad_model.value.body["param"] == "model"  # type: ignore[index]
    assert bad_model.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice="nobody", input="你好")
    with pytest.raises(openai.APIStatusError) as too_long:
        client.audio.speech.create(model="tts-1", voice="alloy", input="好" * 4097)
    assert too_long.value.status_code == 413
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="🙂🙂")
    with pytest.raises(openai.BadRequestError) as bad_speed:
        client.audio.speech.create(model="tts-1", voice="alloy", input="你好", speed=5)
    assert "speed" in str(bad_speed.value)
    raw = requests.post(base_url + "/v1/audio/speech", data="x", timeout=10)
    assert raw.status_code == 415 and set(raw.json()["error"]) == {
        "message", "type", "param", "code", "request_id"}
    assert raw.json()["error"]["request_id"] == raw.headers["X-Request-ID"]


def test_input_over_max_text_chars_gets_the_413_of_api_tts(base_url: str) -> None:
    """MAX_TEXT_CHARS (default 2000) binds /v1/audio/speech too, below OpenAI's 4096."""
    text = "好" * 2001
    native = requests.post(base_url + "/api/tts", json={"text": text}, timeout=10)
    openai_like = requests.post(base_url + "/v1/audio/speech", timeout=10, json={
        "model": "tts-1", "voice": "alloy", "input": text})
    assert native.status_code == openai_like.status_code == 413
    error = openai_like.json()["error"]
    assert error["code"] == native.json()["error"]["code"] == "too_large"
    assert error["param"] == "input" and "the limit is 2000" in error["message"]


def test_models_list(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"tts-1", "tts-1-hd", "onnx"} <= ids


def test_repeated_request_is_served_from_the_cache(base_url: str) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": "缓存测试。", "response_format": "wav"}
    first = requests.post(base_url + "/v1/audio/speech", json=body, timeout=60)
    second = requests.post(base_url + "/v1/audio/speech", json=body, timeout=60)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit-memory")
    a, _ = sf.read(io.BytesIO(first.content), dtype="int16")
    b, _ = sf.read(io.BytesIO(second.content), dtype="int16")
    assert np.array_equal(a, b)
