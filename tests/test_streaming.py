"""Streaming: chunks leave before synthesis ends, join into the non-streamed audio, stop on
disconnect, and use the cache. Real voice, real HTTP; gunicorn where timing is the point."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import miniaudio
import numpy as np
import pytest
import soundfile as sf
from flask import Flask

from tests.conftest import make_settings, started_app
from tts.engines.base import AudioChunk
from tts.testing.gunicorn_server import ServerFactory
from tts.testing.ports import HOST
from tts.worker import Worker

TEXT = "人工智能技术正在快速发展，语音合成已经广泛应用于导航、客服和有声读物等领域。"
LONG = TEXT + "今天天气很好，我们一起去公园散步吧。" * 6


@pytest.fixture(scope="module")
def stream_app(voice_dir: Path) -> Iterator[Flask]:
    app = started_app(make_settings(voice_dir, queue_size=16))
    yield app
    app.extensions["tts"].close()


@pytest.fixture()
def worker(stream_app: Flask) -> Worker:
    state: Worker = stream_app.extensions["tts"]
    state.cache.memory.clear()
    return state


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.int32)


def test_streamed_pcm_equals_the_non_streamed_response(stream_app: Flask, worker: Worker) -> None:
    client = stream_app.test_client()
    streamed = client.post("/api/tts/stream", json={"text": LONG, "format": "pcm"},
                           buffered=False)
    chunks = [chunk for chunk in streamed.response if isinstance(chunk, bytes)]
    assert streamed.status_code == 200 and streamed.headers["X-Cache"] == "miss"
    assert len(chunks) > 5
    worker.cache.memory.clear()
    whole = client.post("/api/tts", json={"text": LONG, "format": "pcm"})
    assert whole.headers["X-Cache"] == "miss"
    a, b = pcm(b"".join(chunks)), pcm(whole.data)
    assert len(a) == len(b)
    # Chunks are vocoded with 24 frames of context each side: equal to ~1e-6 in float,
    # i.e. at most a rounding step in int16 (the stated tolerance: 2 LSB).
    assert np.max(np.abs(a - b)) <= 2


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "flac"])
def test_every_format_streams_decodable_audio(stream_app: Flask, worker: Worker,
                                              fmt: str) -> None:
    response = stream_app.test_client().post("/api/tts/stream",
                                             json={"text": TEXT, "format": fmt})
    assert response.status_code == 200
    if fmt == "mp3":  # an independent decoder (dr_mp3) reads to the end of the stream
        decoded = miniaudio.mp3_read_s16(response.data)
        rate, seconds = decoded.sample_rate, decoded.num_frames / decoded.sample_rate
    else:
        audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
        seconds = len(audio) / rate
    assert rate == 24000 and 6.0 < seconds < 12.0


def test_streamed_wav_header_says_unknown_length(stream_app: Flask, worker: Worker) -> None:
    data = stream_app.test_client().post("/api/tts/stream", json={"text": "你好。"}).data
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert data[4:8] == b"\xff\xff\xff\xff" and data[40:44] == b"\xff\xff\xff\xff"


def test_stream_at_another_sample_rate(stream_app: Flask, worker: Worker) -> None:
    response = stream_app.test_client().post(
        "/api/tts/stream", json={"text": TEXT, "format": "pcm", "sample_rate": 16000})
    worker.cache.memory.clear()
    whole = stream_app.test_client().post(
        "/api/tts", json={"text": TEXT, "format": "pcm", "sample_rate": 16000})
    a, b = pcm(response.data), pcm(whole.data)
    assert abs(len(a) - len(b)) <= 16  # soxr's streaming and one-shot paths align closely
    n = min(len(a), len(b))
    error = a[:n] - b[:n]
    snr = 10 * np.log10(np.sum(b[:n] ** 2.0) / max(float(np.sum(error ** 2.0)), 1.0))
    assert snr > 40


def test_stream_uses_and_fills_the_cache(stream_app: Flask, worker: Worker) -> None:
    client = stream_app.test_client()
    first = client.post("/api/tts/stream", json={"text": TEXT})
    assert len(first.data) > 44  # read to the end: the entry is stored when the stream ends
    second = client.post("/api/tts/stream", json={"text": TEXT})
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit-memory")
    assert "X-Audio-Duration" in second.headers
    # The stored entry is a complete WAV file, also served to the non-streamed route.
    whole = client.post("/api/tts", json={"text": TEXT})
    assert whole.headers["X-Cache"] == "hit-memory" and whole.data == second.data
    assert sf.info(io.BytesIO(whole.data)).frames > 0


def test_disconnect_stops_synthesis(stream_app: Flask, worker: Worker,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = worker.engine
    assert engine is not None
    produced: list[int] = []
    real_stream = engine.stream

    def counting_stream(*args: Any, **kwargs: Any) -> Iterator[AudioChunk]:
        for item in real_stream(*args, **kwargs):
            produced.append(1)
            yield item

    monkeypatch.setattr(engine, "stream", counting_stream)
    client = stream_app.test_client()
    assert len(client.post("/api/tts/stream", json={"text": LONG}).data) > 44
    total = len(produced)
    worker.cache.memory.clear()
    produced.clear()
    response = client.post("/api/tts/stream", json={"text": LONG}, buffered=False)
    body = iter(response.response)
    next(body)
    next(body)
    response.close()  # the client goes away after the first audio
    time.sleep(0.5)
    assert len(produced) < total / 3, f"{len(produced)} of {total} chunks made after leaving"
    assert len(worker.cache.memory) == 0  # an unfinished stream is not cached


def test_a_stream_holds_its_slot_until_it_ends(voice_dir: Path) -> None:
    app = started_app(make_settings(voice_dir, inference_threads=1, queue_size=0))
    worker: Worker = app.extensions["tts"]
    client = app.test_client()
    try:
        response = client.post("/api/tts/stream", json={"text": LONG}, buffered=False)
        body = iter(response.response)
        next(body)
        next(body)
        # Between its chunks the stream runs nothing, yet its slot stays taken:
        # a new request is refused rather than a stream being starved half-way.
        assert worker.pool.in_flight == 0 and worker.pool.saturated
        refused = client.post("/api/tts", json={"text": "另一句新的话。"})
        assert refused.status_code == 503
        assert "overloaded" in (refused.json or {})["error"]["message"]
        response.close()
        assert not worker.pool.saturated
        assert client.post("/api/tts", json={"text": "另一句新的话。"}).status_code == 200
    finally:
        worker.close()


def test_bad_input_gets_an_error_before_any_audio(stream_app: Flask, worker: Worker) -> None:
    client = stream_app.test_client()
    assert client.post("/api/tts/stream", json={"text": "🙂"}).status_code == 422
    bad = client.post("/api/tts/stream", json={"text": "你好", "speed": 9})
    assert bad.status_code == 400 and "speed" in (bad.json or {})["error"]["message"]


def read_chunked(url_host: str, port: int, body: dict[str, object]) -> tuple[list[float],
                                                                             bytes]:
    """A raw HTTP/1.1 client: the arrival time of every chunk of a chunked response."""
    payload = json.dumps(body).encode()
    request = (f"POST /api/tts/stream HTTP/1.1\r\nHost: {url_host}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
               "Connection: close\r\n\r\n").encode() + payload
    started = time.perf_counter()
    arrivals: list[float] = []
    data = b""
    with socket.create_connection((url_host, port), timeout=30) as conn:
        conn.sendall(request)
        while block := conn.recv(65536):
            arrivals.append(time.perf_counter() - started)
            data += block
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head, head
    audio = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        audio, rest = audio + rest[:size], rest[size + 2:]
    return arrivals, audio


def test_chunks_arrive_over_time_through_gunicorn(gunicorn_servers: ServerFactory) -> None:
    server = gunicorn_servers({"WORKERS": "1"})
    port = int(server.url.rsplit(":", 1)[1])
    arrivals, audio = read_chunked(HOST, port, {"text": LONG, "format": "pcm"})
    seconds = len(audio) / 2 / 24000
    assert seconds > 15
    # The first audio leaves long before the whole text is synthesized.
    assert arrivals[0] < arrivals[-1] / 3, arrivals
    assert len(arrivals) > 5


def test_time_to_first_audio_is_measured(stream_app: Flask, worker: Worker) -> None:
    client = stream_app.test_client()

    def streamed_count() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith('tts_time_to_first_audio_seconds_count{mode="stream"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = streamed_count()
    assert len(client.post("/api/tts/stream", json={"text": "首个音频的时间。"}).data) > 44
    assert streamed_count() == before + 1
