"""An independent recognizer still understands long sentences from the service.

Four corpus-style sentences (65-74 characters, five or six clauses each, not from
bench/corpus.txt) go through `POST /api/tts` of the real app; Whisper base
(tts/testing/asr.py, as the benchmark uses it) transcribes them and the pooled
toneless-pinyin error must stay under BOUND. The full measurement over the corpus is
bench/intelligibility.py (bench/results/intelligibility.md).
"""

from __future__ import annotations

import io

import pytest
import soundfile as sf
from flask import Flask

from tts.testing import asr

TEXTS = (
    "昨天下午我去图书馆还书，顺便借了两本关于城市历史的新书，管理员提醒我这个月开始周一闭馆，"
    "以后要记得换个时间来，不然又要白跑一趟了。",
    "小区物业通知说，这个周六上午九点到十二点会停水检修管道，请大家提前储备好生活用水，"
    "如果有特殊困难，可以直接打电话给物业服务中心，他们会尽快帮忙解决。",
    "这家咖啡店的老板以前是一名中学老师，辞职以后开了这家小店，店里摆满了他收藏的旧书和唱片，"
    "很多年轻人周末都喜欢来这里坐一坐，聊聊天看看书。",
    "天气预报说明天夜里有一股冷空气南下，气温会下降六到八度，局部地区还有大风和降雨，"
    "出门的朋友要注意添加衣物，开车的司机也要减速慢行，注意安全。",
)
# Measured on these four sentences (255 syllables): 1.6% (4 homophone-like slips)
# with acoustic passes of at most 20 syllables, 15% with passes of up to 60 (the
# garbled pass ends this test is there to catch). The bound leaves room for a few
# more slips after a change of voice or plan, not for a lost clause (about 15
# syllables, 6%).
BOUND = 0.05


@pytest.fixture(scope="module")
def recognizer() -> asr.Recognizer:
    return asr.Recognizer()


def normalizer(app: Flask) -> asr.Normalize:
    """POST /api/frontend's `normalized`: the text as the service will read it."""
    client = app.test_client()

    def normalize(text: str) -> str:
        body = client.post("/api/frontend", json={"text": text}).get_json()
        assert isinstance(body, dict), body
        return str(body["normalized"])

    return normalize


def pooled_errors(app: Flask, recognizer: asr.Recognizer, speed: float = 1.0) -> (
        tuple[int, int, list[str]]):
    """(pinyin errors, syllables, what was heard) over TEXTS said at `speed`."""
    client = app.test_client()
    normalize = normalizer(app)
    errors = syllables = 0
    heard = []
    for text in TEXTS:
        response = client.post("/api/tts", json={"text": text, "format": "wav",
                                                 "speed": speed})
        assert response.status_code == 200
        audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
        result = asr.score(normalize(text), recognizer.transcribe(audio, rate), normalize)
        errors += result.pinyin_errors
        syllables += result.syllables
        heard.append(f"{result.pinyin_errors}/{result.syllables}: {result.heard}")
    assert syllables > 240
    return errors, syllables, heard


def test_long_sentences_are_understood(app: Flask, recognizer: asr.Recognizer) -> None:
    errors, syllables, heard = pooled_errors(app, recognizer)
    assert errors / syllables <= BOUND, "\n".join(heard)


# Fast speech: on these sentences the voice alone (the acoustic model asked for the
# whole speed) lost 4.3% of the syllables at 1.5 and 35% at 2.0; said at its own
# limit and time-stretched the rest of the way, 4.3% and 5.9% (the corpus figures,
# where 1.5 differs too, are in bench/results/intelligibility.md). The 2.0 bound
# catches a return to the first way.
@pytest.mark.parametrize(("speed", "bound"), [(1.5, BOUND), (2.0, 0.1)])
def test_fast_speech_is_understood(app: Flask, recognizer: asr.Recognizer, speed: float,
                                   bound: float) -> None:
    errors, syllables, heard = pooled_errors(app, recognizer, speed=speed)
    assert errors / syllables <= bound, "\n".join(heard)


def test_the_score_catches_wrong_speech(app: Flask, recognizer: asr.Recognizer) -> None:
    """The check can fail: audio of one sentence scored against another text."""
    client = app.test_client()
    normalize = normalizer(app)
    response = client.post("/api/tts", json={"text": TEXTS[0], "format": "wav"})
    audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
    transcript = recognizer.transcribe(audio, rate)
    assert asr.score(normalize(TEXTS[0]), transcript, normalize).pinyin_error_rate <= BOUND
    assert asr.score(normalize(TEXTS[1]), transcript, normalize).pinyin_error_rate > 0.5


def test_scoring_counts_homophones_as_heard_and_digits_as_read() -> None:
    # 银行行长 with homophones and traditional characters: toneless pinyin is equal.
    assert asr.score("银行行长说", "淫航航長說").pinyin_errors == 0
    assert asr.score("银行行长说", "淫航航長說").char_errors == 3
    # A recognizer loop cannot count more than every reference syllable.
    assert asr.score("你好", "你" * 50).pinyin_error_rate == 1.0
    assert asr.score("七点半", "7点半", lambda t: t.replace("7", "七")).pinyin_errors == 0
    # Whisper's Taiwan-standard 著 for the particle 着 is the same word; 著名 stays zhù.
    assert asr.score("外面下着小雨", "外面下著小雨").char_errors == 0
    assert asr.score("著名作家", "著名作家").pinyin_errors == 0


def test_alignment_places_errors_on_their_syllables() -> None:
    ref = ["a", "b", "c", "d"]
    assert asr.align_errors(ref, ["a", "x", "c", "d"]) == [0, 1, 0, 0]
    assert asr.align_errors(ref, ["a", "b", "c"]) == [0, 0, 0, 1]
    assert asr.align_errors(ref, ["a", "b", "c", "d", "e", "f"]) == [0, 0, 0, 1]
    assert asr.edit_distance(ref, ["b", "c", "d", "e"]) == 2
