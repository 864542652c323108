"""The HTTP contract (/work/shared/API.md) through the real app: real voice, real HTTP stack.

Everything goes through Flask's test client into `app.py`, the parser, the cache
and the ONNX engine; nothing is mocked. Most tests share the session `app`;
the few that need other settings (not started, overloaded, larger text limit)
build their own and close it.
"""

from __future__ import annotations

import base64
import io
import re
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import soundfile as sf
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from tests.conftest import make_settings, started_app
from tts.audio import FORMATS, SAMPLE_RATES
from tts.emotions import EMOTIONS
from tts.web import errors

TEXT = "今天天气很好，我们一起去公园散步。"  # 15 syllables, about 3.4 s
SHORT = "你好。"
NATIVE_RATE = 24000
CONTENT_TYPES = {"wav": "audio/wav", "pcm": "audio/L16", "flac": "audio/flac",
                 "mp3": "audio/mpeg", "ogg": "audio/ogg", "aac": "audio/aac"}
# Statuses the contract allows for something a caller sends to a ready, unloaded worker.
CALLER_STATUSES = {200, 400, 404, 413, 415, 422}


# ---------------------------------------------------------------- helpers


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


def unique_text() -> str:
    """A text no other test has synthesized, so the cache starts cold for it."""
    return f"这是第{uuid.uuid4().int % 10**8}号测试。"


def syllables(client: FlaskClient, text: str) -> int:
    response = client.post("/api/frontend", json={"text": text})
    assert response.status_code == 200
    return sum(len(s["pinyin"]) for s in response.get_json()["sentences"])


@pytest.fixture()
def stopped_app(voice_dir: Path) -> Iterator[Flask]:
    """An app whose engine was never started: the worker is not ready."""
    flask_app = create_app(make_settings(voice_dir), start=False)
    yield flask_app
    flask_app.extensions["tts"].close()


@pytest.fixture(scope="module")
def roomy_app(voice_dir: Path) -> Iterator[Flask]:
    """Text limit above 10k characters, for hostile long strings within the limits."""
    flask_app = started_app(make_settings(voice_dir, max_text_chars=12000))
    yield flask_app
    flask_app.extensions["tts"].close()


# ---------------------------------------------------------------- audio


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


# ---------------------------------------------------------------- GET and headers


def test_get_and_post_give_identical_bytes(client: FlaskClient) -> None:
    text = unique_text()
    got = client.get("/api/tts", query_string={"text": text, "speed": "1.5", "format": "flac",
                                               "sample_rate": "16000", "emotion": "happy"})
    assert got.status_code == 200 and got.headers["X-Cache"] == "miss"
    posted = client.post("/api/tts", json={"text": text, "speed": 1.5, "format": "flac",
                                           "sample_rate": 16000, "emotion": "happy"})
    assert posted.status_code == 200
    assert posted.headers["X-Cache"] == "hit-memory"  # the same canonical request
    assert posted.data == got.data
    assert posted.headers["Content-Type"] == got.headers["Content-Type"] == "audio/flac"
    assert posted.headers["X-Audio-Duration"] == got.headers["X-Audio-Duration"]
    assert sf.info(io.BytesIO(got.data)).samplerate == 16000


def test_get_defaults_match_post_defaults(client: FlaskClient) -> None:
    got = client.get("/api/tts", query_string={"text": SHORT})
    posted = client.post("/api/tts", json={"text": SHORT})
    assert got.status_code == posted.status_code == 200
    assert got.data == posted.data
    assert wav_info(got.data)[2] == NATIVE_RATE


def test_request_id_echoes_the_callers(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT},
                           headers={"X-Request-ID": "caller-42"})
    assert response.headers["X-Request-ID"] == "caller-42"
    failed = client.post("/api/tts", json={"text": SHORT, "speed": 9},
                         headers={"X-Request-ID": "caller-43"})
    assert_error(failed, 400, "speed")
    assert failed.get_json()["error"]["request_id"] == "caller-43"


@pytest.mark.parametrize("sent", [None, "", "bad\x7fid"])
def test_request_id_is_fresh_when_missing_or_unprintable(client: FlaskClient,
                                                         sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    ids = {client.get("/healthz", headers=headers).headers["X-Request-ID"] for _ in range(2)}
    assert len(ids) == 2, "each request gets its own id"
    for request_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_request_id_is_truncated(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert response.headers["X-Request-ID"] == "x" * 128


def test_cache_header_is_miss_then_hit_memory(client: FlaskClient) -> None:
    body = {"text": unique_text()}
    first = client.post("/api/tts", json=body)
    second = client.post("/api/tts", json=body)
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit-memory"
    assert first.data == second.data


def test_engine_and_device_headers(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT})
    assert response.headers["X-Engine"] == "onnx"
    assert response.headers["X-Device"] == "cpu"
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["X-Audio-Duration"])


# ---------------------------------------------------------------- batch


def test_batch_keeps_order_and_isolates_bad_items(client: FlaskClient) -> None:
    items: list[Any] = [
        {"text": "你好。"},
        {"text": ""},
        {"text": "好。", "speed": 9},
        {"text": "好。", "voice": "nobody"},
        {"text": "好。", "pitch": 2},
        "not an object",
        {"text": "再见。", "emotion": "sad"},
        {"text": "你好。"},
        {"text": "😀"},
    ]
    response = client.post("/api/tts_batch", json={"items": items})
    assert response.status_code == 200
    body = response.get_json()
    assert body["format"] == "wav"
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["ok"] for r in results] == [True, False, False, False, False, False, True, True,
                                          False]
    expected_errors = {1: (400, "items[1].text"), 2: (400, "items[2].speed"),
                       3: (404, "items[3].voice"), 4: (400, "pitch"), 5: (400, "items[5]"),
                       8: (422, "nothing speakable")}
    for index, (status, named) in expected_errors.items():
        error = results[index]["error"]
        assert error["status"] == status, error
        assert error["code"] == errors.BY_STATUS[status].code
        assert named in error["message"], error
        assert "audio_base64" not in results[index]
    assert "items[4]" in results[4]["error"]["message"]
    for index in (0, 6, 7):
        audio = base64.b64decode(results[index]["audio_base64"])
        channels, width, rate, frames = wav_info(audio)
        assert (channels, width, rate) == (1, 2, NATIVE_RATE) and frames > 0
        assert abs(frames / rate - results[index]["duration_s"]) <= 0.001
        assert results[index]["cache"] in ("miss", "hit-memory", "hit-redis")
    assert results[0]["audio_base64"] == results[7]["audio_base64"]  # duplicates identical
    single = client.post("/api/tts", json={"text": "你好。"})
    assert base64.b64decode(results[0]["audio_base64"]) == single.data


def test_batch_format_and_rate_apply_to_every_item(client: FlaskClient) -> None:
    response = client.post("/api/tts_batch", json={
        "items": [{"text": "一。"}, {"text": "二。", "speed": 1.5}],
        "format": "flac", "sample_rate": 16000})
    assert response.status_code == 200
    body = response.get_json()
    assert body["format"] == "flac"
    for result in body["results"]:
        assert result["ok"], result
        audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])))
        assert rate == 16000 and len(audio) > 0


def test_batch_with_too_many_items_is_413_naming_the_limit(app: Flask,
                                                            client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_batch_items
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}] * (limit + 1)})
    assert_error(response, 413, "items", str(limit), str(limit + 1))


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": None}, {"items": "好"},
                                  {"items": {"text": "好"}}])
def test_batch_without_items_is_400(client: FlaskClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/tts_batch", json=body), 400, "items")


def test_batch_envelope_fields_are_checked(client: FlaskClient) -> None:
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}], "format": "ogg",
                                                   "sample_rate": 22050})
    assert_error(response, 400, "sample_rate", "ogg")
    response = client.post("/api/tts_batch", json={"items": [{"text": "好"}], "speed": 1})
    assert_error(response, 400, "speed", "items")


# ---------------------------------------------------------------- one test per error status


@pytest.mark.parametrize(("body", "named"), [
    pytest.param({"text": SHORT, "speed": 3}, ["speed", "0.5", "2.0"], id="speed-range"),
    pytest.param({"text": SHORT, "speed": "fast"}, ["speed"], id="speed-word"),
    pytest.param({"text": SHORT, "speed": True}, ["speed"], id="speed-boolean"),
    pytest.param({"text": SHORT, "format": "wma"}, ["format", "wav", "ogg"], id="format"),
    pytest.param({"text": SHORT, "sample_rate": 44100}, ["sample_rate", "16000", "24000"],
                 id="sample-rate"),
    pytest.param({"text": SHORT, "sample_rate": True}, ["sample_rate"], id="sample-rate-bool"),
    pytest.param({"text": SHORT, "format": "ogg", "sample_rate": 22050}, ["sample_rate", "ogg"],
                 id="ogg-22050"),
    pytest.param({"text": SHORT, "emotion": "joy"}, ["emotion", "neutral", "happy"],
                 id="emotion"),
    pytest.param({"text": SHORT, "pitch": 1.2}, ["pitch", "allowed", "sample_rate"],
                 id="unknown-field"),
    pytest.param({"text": ""}, ["text"], id="empty-text"),
    pytest.param({"text": "   "}, ["text"], id="blank-text"),
    pytest.param({"speed": 1.0}, ["text"], id="missing-text"),
    pytest.param({"text": 42}, ["text"], id="text-number"),
    pytest.param({"text": SHORT, "voice": ["baker-zh"]}, ["voice"], id="voice-not-string"),
])
def test_400_bad_field_names_the_field(client: FlaskClient, body: dict[str, Any],
                                       named: list[str]) -> None:
    assert_error(client.post("/api/tts", json=body), 400, *named)


@pytest.mark.parametrize(("raw", "named"), [
    pytest.param(b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd"', ["JSON"], id="truncated-json"),
    pytest.param(b"", ["JSON"], id="empty-body"),
    pytest.param(b"null", ["JSON"], id="null"),
    pytest.param(b'["text"]', ["object"], id="array"),
    pytest.param(b'"text"', ["object"], id="string"),
    pytest.param(b"42", ["object"], id="number"),
])
def test_400_body_not_a_json_object(client: FlaskClient, raw: bytes, named: list[str]) -> None:
    assert_error(post_raw(client, raw), 400, *named)


def test_400_on_the_query_string_too(client: FlaskClient) -> None:
    response = client.get("/api/tts", query_string={"text": SHORT, "speed": "nan"})
    assert_error(response, 400, "speed")
    response = client.get("/api/tts", query_string={"text": SHORT, "lang": "zh"})
    assert_error(response, 400, "lang")


def test_404_unknown_route(client: FlaskClient) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "/api/nothing-here")


def test_404_unknown_voice_names_the_available_ones(client: FlaskClient) -> None:
    response = client.post("/api/tts", json={"text": SHORT, "voice": "nobody"})
    assert_error(response, 404, "voice", "nobody", "baker-zh")


def test_405_wrong_method(client: FlaskClient) -> None:
    assert_error(client.delete("/api/tts"), 405, "DELETE", "/api/tts")
    assert_error(client.get("/api/tts_batch"), 405, "GET")


def test_413_text_over_the_limit(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_text_chars
    response = client.post("/api/tts", json={"text": "好" * (limit + 1)})
    assert_error(response, 413, "text", str(limit), str(limit + 1))


def test_413_body_over_the_limit(app: Flask, client: FlaskClient) -> None:
    limit = app.extensions["tts"].settings.max_body_bytes
    body = b'{"text": "' + b"a" * limit + b'"}'
    assert_error(post_raw(client, body), 413, "body", str(limit))


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_415_body_not_json(client: FlaskClient, content_type: str) -> None:
    response = client.post("/api/tts", data="text=hello", content_type=content_type)
    assert_error(response, 415, "JSON", "Content-Type")


@pytest.mark.parametrize("text", ["😀😂🎉", "。，！？……", "\x00\x01\x02", "\u200b\u200b", "<>"])
def test_422_nothing_speakable(client: FlaskClient, text: str) -> None:
    assert_error(client.post("/api/tts", json={"text": text}), 422, "speakable")


def test_503_while_not_ready(stopped_app: Flask) -> None:
    client = stopped_app.test_client()
    response = client.post("/api/tts", json={"text": SHORT}, headers={"X-Request-ID": "warm"})
    assert_error(response, 503, "warming up")
    assert response.get_json()["error"]["request_id"] == "warm"
    assert int(response.headers["Retry-After"]) >= 1
    assert_error(client.get("/api/voices"), 503)
    assert client.get("/healthz").status_code == 200  # liveness never waits on the engine


def test_draining_worker_is_unready_but_still_serves(app: Flask, client: FlaskClient) -> None:
    worker = app.extensions["tts"]
    worker.draining = True  # what SIGTERM handling sets; restored below
    try:
        response = client.post("/api/tts", json={"text": SHORT})
        readiness = client.get("/readyz")
        liveness = client.get("/healthz")
    finally:
        worker.draining = False
    assert response.status_code == 200 and response.data[:4] == b"RIFF"  # not dropped
    assert readiness.status_code == 503 and readiness.get_json()["draining"] is True
    assert liveness.status_code == 200
    assert client.get("/readyz").status_code == 200


def test_saturated_worker_refuses_new_text_before_the_front_end_but_serves_hits(
        voice_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flask_app = started_app(make_settings(voice_dir, inference_threads=1, queue_size=0))
    worker = flask_app.extensions["tts"]
    client = flask_app.test_client()
    assert client.post("/api/tts", json={"text": TEXT}).headers["X-Cache"] == "miss"
    planned: list[str] = []
    frontend = worker.service.synthesizer.frontend
    split = frontend.first_clause_split

    def spy(text: str) -> Any:
        planned.append(text)
        return split(text)

    monkeypatch.setattr(frontend, "first_clause_split", spy)
    release = threading.Event()
    holder = threading.Thread(target=worker.pool.run, args=(release.wait, 30.0))
    try:
        holder.start()
        while not worker.pool.saturated:
            time.sleep(0.01)
        started = time.perf_counter()
        refused = client.post("/api/tts", json={"text": "新的一句话，还没有合成过。"})
        refused_s = time.perf_counter() - started
        hit = client.post("/api/tts", json={"text": TEXT})
    finally:
        release.set()
        holder.join(30)
        worker.close()
    assert_error(refused, 503, "overloaded")
    assert refused_s < 0.5 and planned == []  # no front-end work for a refused request
    assert hit.status_code == 200 and hit.headers["X-Cache"] == "hit-memory"


def test_503_when_overloaded_and_never_500(voice_dir: Path) -> None:
    flask_app = started_app(make_settings(voice_dir, inference_threads=1, queue_size=0))
    callers = 8
    barrier = threading.Barrier(callers)
    outcomes: list[tuple[TestResponse, float]] = []
    lock = threading.Lock()

    def call(index: int) -> None:
        client = flask_app.test_client()
        barrier.wait()
        started = time.perf_counter()
        response = client.post("/api/tts",
                               json={"text": f"今天天气很好我们一起去公园散步这是第{index}遍。"})
        with lock:
            outcomes.append((response, time.perf_counter() - started))

    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        flask_app.extensions["tts"].close()
    statuses = sorted(response.status_code for response, _ in outcomes)
    assert len(statuses) == callers
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    for response, seconds in outcomes:
        if response.status_code == 200:
            assert wav_info(response.data)[3] > 0
            continue
        assert_error(response, 503, "overloaded")
        assert int(response.headers["Retry-After"]) >= 1
        assert seconds < 1.0, f"refusal took {seconds:.2f} s; it should be immediate"


# ---------------------------------------------------------------- nothing a caller sends is a 500


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


# ---------------------------------------------------------------- voices, front end, probes


def test_voices_list_the_voice(client: FlaskClient) -> None:
    response = client.get("/api/voices")
    assert response.status_code == 200
    voices = response.get_json()["voices"]
    assert [v["name"] for v in voices] == ["baker-zh"]
    voice = voices[0]
    assert voice["language"].startswith("zh")
    assert voice["sample_rate"] == NATIVE_RATE
    assert voice["engine"] == "onnx"
    assert voice["default"] is True
    assert "neutral" in voice["emotions"] and set(voice["emotions"]) <= set(EMOTIONS)


def test_frontend_reads_polyphones(client: FlaskClient) -> None:
    response = client.post("/api/frontend", json={"text": "银行行长"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["normalized"] == "银行行长"
    [sentence] = body["sentences"]
    assert sentence["pinyin"] == ["yin2", "hang2", "hang2", "zhang3"]
    assert {"h", "ang2", "zh", "ang3"} <= set(sentence["phones"])


def test_frontend_normalizes_numbers(client: FlaskClient) -> None:
    body = client.post("/api/frontend", json={"text": "2026年3月5日"}).get_json()
    assert body["normalized"].startswith("二零二六年三月五日")
    pinyin = [p for s in body["sentences"] for p in s["pinyin"]]
    assert pinyin[:5] == ["er4", "ling2", "er4", "liu4", "nian2"]


def test_frontend_errors(client: FlaskClient) -> None:
    assert_error(client.post("/api/frontend", json={"text": "😀"}), 422, "speakable")
    assert_error(client.post("/api/frontend", json={"text": "好", "x": 1}), 400, "'x'")
    assert_error(client.post("/api/frontend", json={}), 400, "text")
    assert_error(client.post("/api/frontend", data="text=好"), 415)


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_ready(app: Flask, client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ready"] is True and body["draining"] is False
    assert (body["engine"], body["device"], body["degraded"]) == ("onnx", "cpu", False)
    assert body["cache"]["memory"]["max_bytes"] > 0
    assert body["cache"]["redis"] == "disabled"
    settings = app.extensions["tts"].settings
    assert body["queue"]["capacity"] == settings.inference_threads + settings.queue_size
    assert {"in_flight", "queued"} <= set(body["queue"])


def test_readyz_503_when_not_started(stopped_app: Flask) -> None:
    response = stopped_app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False
    assert body["engine"] == "onnx" and body["device"] is None
    assert "cache" in body and "queue" in body


def test_ssml_tags_are_not_read_aloud(client: FlaskClient) -> None:
    plain = client.post("/api/frontend", json={"text": "你好"}).get_json()
    ssml = client.post("/api/frontend", json={"text": "<speak>你好</speak>"}).get_json()
    assert ssml["sentences"][0]["pinyin"] == plain["sentences"][0]["pinyin"]
