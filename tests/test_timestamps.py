"""Timestamps and subtitles through the real app and voice: every spoken part of the
caller's own text, when it is said, on every route that offers it."""

from __future__ import annotations

import base64
import io
import itertools
import json
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt
from flask.testing import FlaskClient

from tests.conftest import assert_error
from tts.frontend.alignment import Aligner
from tts.frontend.normalize import is_han

FRAME_S = 300 / 24000  # one mel frame of the voice
TEXT = "银行行长说：2026年3月5日的会议改到10:30，涨幅35%。详情请访问www.example.com！"


def timed(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/tts", json={"timestamps": True, **body})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    result: dict[str, Any] = response.get_json()
    result["cache"] = response.headers["X-Cache"]
    return result


def decoded(result: dict[str, Any]) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio"])), dtype="float32")
    assert rate == result["sample_rate"]
    return np.asarray(audio)


def assert_well_timed(result: dict[str, Any]) -> None:
    """Times are monotonic, cover the audio, and the last end is the duration."""
    units = result["alignment"]
    assert units
    for unit in units:
        assert 0 <= unit["start"] < unit["end"] <= result["duration"] + 1e-3
    for before, after in itertools.pairwise(units):
        assert after["start"] >= before["end"] - 1e-3
    assert units[0]["start"] < 0.5
    assert abs(units[-1]["end"] - result["duration"]) <= FRAME_S
    sentences = result["sentences"]
    assert sentences[0]["start"] == 0 and abs(sentences[-1]["end"] - result["duration"]) <= FRAME_S


def test_entries_are_the_callers_own_text(client: FlaskClient) -> None:
    result = timed(client, text=TEXT)
    units = result["alignment"]
    covered: set[int] = set()
    for unit in units:
        assert TEXT[unit["offset"]:unit["offset"] + unit["length"]] == unit["text"]
        span = set(range(unit["offset"], unit["offset"] + unit["length"]))
        assert not span & covered, f"{unit} overlaps an earlier entry"
        covered |= span
    assert [u["offset"] for u in units] == sorted(u["offset"] for u in units)
    spoken = {i for i, ch in enumerate(TEXT) if is_han(ch) or (ch.isascii() and ch.isalnum())}
    assert spoken <= covered, [TEXT[i] for i in sorted(spoken - covered)]
    by_text = {u["text"]: u for u in units}
    assert by_text["2026年"]["pinyin"] == ["er4", "ling2", "er4", "liu4", "nian2"]
    assert by_text["35%"]["pinyin"] == ["bai3", "fen1", "zhi1", "san1", "shi2", "wu3"]
    assert by_text["10:30"]["pinyin"][:2] == ["shi2", "dian3"]
    assert "www.example.com" in by_text
    assert by_text["行"]["pinyin"] == ["hang2"]
    assert_well_timed(result)
    assert abs(len(decoded(result)) / result["sample_rate"] - result["duration"]) < 1e-3


def test_pauses_between_entries_are_silent(client: FlaskClient) -> None:
    result = timed(client, text=TEXT)
    audio = decoded(result)
    rate = result["sample_rate"]
    loud = float(np.sqrt(np.mean(audio ** 2)))
    gaps = [(a["end"], b["start"]) for a, b in zip(result["alignment"],
                                                   result["alignment"][1:], strict=False)
            if b["start"] - a["end"] >= 0.08]
    assert len(gaps) >= 3  # the comma, the full stop and the clause cuts at least
    for start, end in gaps:
        inside = audio[int((start + 0.02) * rate):int((end - 0.02) * rate)]
        assert float(np.sqrt(np.mean(inside ** 2))) < 0.1 * loud, (start, end)


def test_a_cache_hit_has_the_same_alignment(client: FlaskClient) -> None:
    text = "缓存命中时，时间戳和第一次完全一样。"
    first, second = timed(client, text=text), timed(client, text=text)
    assert (first["cache"], second["cache"]) == ("miss", "hit-memory")
    del first["cache"], second["cache"]
    assert first == second


def test_plain_audio_and_timestamps_share_one_cache_entry(client: FlaskClient) -> None:
    text = "先要音频，再要时间戳。"
    assert client.post("/api/tts", json={"text": text}).headers["X-Cache"] == "miss"
    assert timed(client, text=text)["cache"] == "hit-memory"


@pytest.mark.parametrize("body", [
    {"speed": 1.5}, {"speed": 0.75}, {"emotion": "sad"}, {"emotion": "happy"},
    {"sample_rate": 16000}, {"format": "mp3", "sample_rate": 22050}, {"format": "flac"},
])
def test_timings_hold_through_speed_emotion_and_rate(client: FlaskClient,
                                                     body: dict[str, Any]) -> None:
    result = timed(client, text="今天天气很好，我们一起去公园散步吧。", **body)
    assert result["format"] == body.get("format", "wav")
    assert_well_timed(result)


def test_ssml_offsets_point_into_the_text_content(client: FlaskClient) -> None:
    text = ('<speak>你好<break time="600ms"/><prosody pitch="+15%">我的电话是'
            '<say-as interpret-as="telephone">110</say-as></prosody></speak>')
    result = timed(client, text=text)
    units = result["alignment"]
    assert [u["text"] for u in units] == ["你", "好", "我", "的", "电", "话", "是", "110"]
    for unit in units:
        assert text[unit["offset"]:unit["offset"] + unit["length"]] == unit["text"]
    assert units[-1]["pinyin"] == ["yao1", "yao1", "ling2"]
    assert units[2]["start"] - units[1]["end"] >= 0.6  # the break is a gap of its length
    assert_well_timed(result)


def test_subtitles_parse_and_match_the_audio(client: FlaskClient) -> None:
    text = ("今年前三季度国内生产总值同比增长百分之五点二，其中第三季度增长4.9%，"
            "消费对经济增长的贡献率超过六成。详情请访问www.example.com！")
    audio = client.post("/api/tts", json={"text": text})
    duration = float(audio.headers["X-Audio-Duration"])
    response = client.post("/api/tts/subtitles", json={"text": text, "max_chars": 14})
    assert response.status_code == 200
    assert response.headers["X-Cache"] == "hit-memory"  # the same entry /api/tts made
    cues = list(srt.parse(response.get_data(as_text=True)))
    assert len(cues) >= 4
    for cue in cues:
        assert len(cue.content) <= 14 or cue.content == "www.example.com"
        assert cue.content in text
        assert cue.start < cue.end
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert abs(cues[-1].end.total_seconds() - duration) <= FRAME_S + 1e-3
    assert "".join(c.content for c in cues).replace("，", "") == \
        text.replace("，", "").replace("。", "").replace("！", "")

    vtt = client.post("/api/tts/subtitles", json={"text": text, "format": "vtt",
                                                  "max_chars": 14})
    assert vtt.mimetype == "text/vtt"
    captions = webvtt.from_string(vtt.get_data(as_text=True)).captions
    assert [c.text for c in captions] == [c.content for c in cues]


@pytest.mark.parametrize(("body", "named"), [
    ({"text": "你好", "timestamps": "yes"}, "timestamps"),
    ({"text": "你好", "timestamps": 1}, "timestamps"),
])
def test_timestamps_must_be_a_boolean(client: FlaskClient, body: dict[str, Any],
                                      named: str) -> None:
    assert_error(client.post("/api/tts", json=body), 400, named)
    assert_error(client.post("/api/tts/stream", json=body), 400, named)


@pytest.mark.parametrize(("body", "named"), [
    ({"text": "你好", "format": "ass"}, "format"),
    ({"text": "你好", "max_chars": 2}, "max_chars"),
    ({"text": "你好", "max_chars": "20"}, "max_chars"),
    ({"text": "你好", "timestamps": True}, "timestamps"),
])
def test_subtitles_errors(client: FlaskClient, body: dict[str, Any], named: str) -> None:
    assert_error(client.post("/api/tts/subtitles", json=body), 400, named)


def server_sent_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_stream_sends_each_passes_entries_before_its_audio(client: FlaskClient) -> None:
    text = "我们今天一起去北京的公园散步，看到了很多漂亮的花和高大的树木。大家都非常开心！"
    response = client.post("/api/tts/stream", json={"text": text, "timestamps": True,
                                                    "format": "pcm"},
                           headers={"Accept": "text/event-stream"})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = server_sent_events(response.get_data(as_text=True))
    assert events[-1][0] == "done"
    sent_s = 0.0
    units: list[dict[str, Any]] = []
    for name, data in events[:-1]:
        if name == "audio":
            sent_s += len(base64.b64decode(data["chunk"])) / 2 / 24000
        else:
            assert name == "alignment"
            assert all(u["start"] >= sent_s - 1e-3 for u in data["units"]), "audio went first"
            units.extend(data["units"])
    assert events[-1][1]["duration"] == pytest.approx(sent_s, abs=1e-3)
    whole = timed(client, text=text, format="pcm")
    assert whole["cache"] == "hit-memory"  # the stream filled the cache, timeline included
    assert [(u["text"], u["offset"]) for u in units] == \
        [(u["text"], u["offset"]) for u in whole["alignment"]]
    for streamed, stored in zip(units, whole["alignment"], strict=True):
        assert streamed["start"] == pytest.approx(stored["start"], abs=FRAME_S)


def test_stream_of_a_cached_text_sends_every_entry_first(client: FlaskClient) -> None:
    text = "先合成一次，再用流式接口取时间戳。"
    whole = timed(client, text=text)
    response = client.post("/api/tts/stream", json={"text": text, "timestamps": True})
    events = server_sent_events(response.get_data(as_text=True))
    assert response.headers["X-Cache"] == "hit-memory"
    assert events[0] == ("alignment", {"units": whole["alignment"]})
    assert events[-1] == ("done", {"duration": whole["duration"]})


def test_alignment_of_repetitive_text_maps_every_character(voice_frontend: Any) -> None:
    """A general diff is quadratic on text like this (a caller chooses the text); the
    walk along both strings still maps every character to its own place."""
    text = "a1哈，" * 500
    normalized = voice_frontend.normalize(text)
    aligner = Aligner(text, normalized)
    found = [k for k, ch in enumerate(text) if ch == "哈"]
    mapped = [aligner.source_span(k) for k, ch in enumerate(normalized) if ch == "哈"]
    assert mapped == [(k, k + 1) for k in found]
