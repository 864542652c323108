"""SSML through the real voice: every element changes the output as it should.

Audio assertions measure what came back over HTTP (durations, F0 by YIN, RMS);
front-end assertions look at pinyin and symbol ids. Hostile and malformed
documents must be a clean 4xx in the service's JSON envelope.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from flask.testing import FlaskClient

from tests.conftest import make_settings, started_app
from tts.frontend import Frontend, SsmlError
from tts.frontend.ssml import MAX_DEPTH, is_ssml, parse_ssml
from tts.testing.prosody import measure, rms_db

BASE = "今天天气很好，我们一起去公园散步吧。"


def tts(client: FlaskClient, text: str, **fields: object) -> tuple[np.ndarray, int]:
    response = client.post("/api/tts", json={"text": text, **fields})
    assert response.status_code == 200, response.get_json()
    audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
    assert len(audio) / rate == pytest.approx(float(response.headers["X-Audio-Duration"]),
                                              abs=1e-3)
    return audio, rate


def seconds(client: FlaskClient, text: str) -> float:
    audio, rate = tts(client, text)
    return len(audio) / rate


def frontend_of(client: FlaskClient, text: str) -> dict[str, object]:
    response = client.post("/api/frontend", json={"text": text})
    assert response.status_code == 200, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def pinyin_of(client: FlaskClient, text: str) -> list[str]:
    sentences = frontend_of(client, text)["sentences"]
    assert isinstance(sentences, list)
    return [p for s in sentences for p in s["pinyin"]]


def error_of(client: FlaskClient, text: str, status: int) -> str:
    response = client.post("/api/tts", json={"text": text})
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    message: str = error["message"]
    return message


# -- breaks -------------------------------------------------------------------------


@pytest.mark.parametrize("pause", ["300ms", "800ms", "1.5s"])
def test_break_adds_that_much_silence(client: FlaskClient, pause: str) -> None:
    want = float(pause[:-2]) / 1000 if pause.endswith("ms") else float(pause[:-1])
    zero = seconds(client, '<speak>你好。<break time="0ms"/>我们走吧。</speak>')
    timed = seconds(client, f'<speak>你好。<break time="{pause}"/>我们走吧。</speak>')
    assert timed - zero == pytest.approx(want, abs=0.02)


def test_break_strength_and_leading_break(client: FlaskClient) -> None:
    plain = seconds(client, "<speak>你好</speak>")
    audio, rate = tts(client, '<speak><break time="500ms"/>你好</speak>')
    assert len(audio) / rate - plain == pytest.approx(0.5, abs=0.02)
    assert not np.any(audio[: int(0.5 * rate)])  # the lead is real silence
    zero = seconds(client, '<speak>你好。<break time="0ms"/>我们走吧。</speak>')
    strong = seconds(client, '<speak>你好。<break strength="x-strong"/>我们走吧。</speak>')
    assert strong - zero == pytest.approx(1.0, abs=0.02)


# -- phoneme, say-as, sub -------------------------------------------------------------


def test_phoneme_override_changes_pinyin_and_ids(client: FlaskClient,
                                                 voice_frontend: Frontend) -> None:
    plain = "<speak>他在银行工作</speak>"
    forced = '<speak>他在银<phoneme alphabet="py" ph="xing2">行</phoneme>工作</speak>'
    assert pinyin_of(client, plain)[3] == "hang2"
    assert pinyin_of(client, forced)[3] == "xing2"
    assert voice_frontend.analyze(plain)[0].ids != voice_frontend.analyze(forced)[0].ids
    two = '<speak><phoneme ph="zhang3 da4">长大</phoneme>了</speak>'
    assert pinyin_of(client, two)[:2] == ["zhang3", "da4"]


def test_phoneme_errors_are_400(client: FlaskClient) -> None:
    assert "not pinyin" in error_of(client, '<speak><phoneme ph="hang">行</phoneme></speak>', 400)
    assert "2 syllables for 1" in error_of(
        client, '<speak><phoneme ph="hang2 hang2">行</phoneme></speak>', 400)
    assert "this voice" in error_of(client, '<speak><phoneme ph="qqq2">行</phoneme></speak>', 400)


@pytest.mark.parametrize(("ssml", "pinyin"), [
    ('<say-as interpret-as="digits">2024</say-as>', ["er4", "ling2", "er4", "si4"]),
    ('<say-as interpret-as="cardinal">2024</say-as>',
     ["er4", "qian1", "ling2", "er4", "shi2", "si4"]),
    ('<say-as interpret-as="telephone">110</say-as>', ["yao1", "yao1", "ling2"]),
    ('<say-as interpret-as="date">2024-05-01</say-as>',
     ["er4", "ling2", "er4", "si4", "nian2", "wu3", "yue4", "yi1", "ri4"]),
    ('<sub alias="世界卫生组织">WHO</sub>', ["shi4", "jie4", "wei4", "sheng1", "zu3", "zhi1"]),
])
def test_say_as_and_sub(client: FlaskClient, ssml: str, pinyin: list[str]) -> None:
    assert pinyin_of(client, f"<speak>{ssml}</speak>") == pinyin


def test_say_as_digits_differs_from_plain_number(client: FlaskClient) -> None:
    # (after 号码 plain text reads digits one by one too: that context is a code)
    assert pinyin_of(client, "<speak>数量2024</speak>") != \
        pinyin_of(client, '<speak>数量<say-as interpret-as="digits">2024</say-as></speak>')


# -- prosody and emotion --------------------------------------------------------------


def test_prosody_rate_changes_duration(client: FlaskClient) -> None:
    base = seconds(client, f"<speak>{BASE}</speak>")
    slow = seconds(client, f'<speak><prosody rate="slow">{BASE}</prosody></speak>')
    fast = seconds(client, f'<speak><prosody rate="150%">{BASE}</prosody></speak>')
    assert slow / base == pytest.approx(1 / 0.8, rel=0.08)
    assert fast / base == pytest.approx(1 / 1.5, rel=0.08)


def test_prosody_pitch_changes_measured_f0(client: FlaskClient) -> None:
    base, rate = tts(client, f"<speak>{BASE}</speak>")
    high, _ = tts(client, f'<speak><prosody pitch="+15%">{BASE}</prosody></speak>')
    low, _ = tts(client, f'<speak><prosody pitch="-2st">{BASE}</prosody></speak>')
    f0 = {name: measure(audio, rate, 17).f0_mean_hz
          for name, audio in (("base", base), ("high", high), ("low", low))}
    assert f0["high"] / f0["base"] == pytest.approx(1.15, abs=0.04)
    assert f0["low"] / f0["base"] == pytest.approx(2 ** (-2 / 12), abs=0.04)


def test_prosody_volume_changes_rms(client: FlaskClient) -> None:
    base, rate = tts(client, f"<speak>{BASE}</speak>")
    soft, _ = tts(client, f'<speak><prosody volume="-6dB">{BASE}</prosody></speak>')
    loud, _ = tts(client, f'<speak><prosody volume="loud">{BASE}</prosody></speak>')
    assert rms_db(soft, rate) - rms_db(base, rate) == pytest.approx(-6.0, abs=0.5)
    assert rms_db(loud, rate) - rms_db(base, rate) > 2.5


def test_prosody_applies_only_inside_the_element(voice_frontend: Frontend) -> None:
    sentences = voice_frontend.analyze(
        '<speak>今天<prosody rate="slow" volume="+6dB">非常</prosody>好</speak>')
    assert [s.text for s in sentences] == ["今天", "非常", "好"]
    assert [s.rate for s in sentences] == [1.0, 0.8, 1.0]
    assert sentences[1].volume == pytest.approx(10 ** (6 / 20))
    nested = voice_frontend.analyze(
        '<speak><prosody rate="150%"><prosody rate="120%">好</prosody></prosody></speak>')
    assert nested[0].rate == pytest.approx(1.8)


def test_emotion_changes_prosody(client: FlaskClient) -> None:
    base, rate = tts(client, f"<speak>{BASE}</speak>")
    sad, _ = tts(client, f'<speak><emotion category="sad">{BASE}</emotion></speak>')
    happy, _ = tts(client, f'<speak><emotion category="happy" intensity="1.5">{BASE}</emotion>'
                   "</speak>")
    m = {name: measure(audio, rate, 17) for name, audio in
         (("base", base), ("sad", sad), ("happy", happy))}
    assert m["sad"].duration_s > m["base"].duration_s * 1.1
    assert m["sad"].f0_mean_hz < m["base"].f0_mean_hz * 0.97
    assert m["happy"].f0_mean_hz > m["base"].f0_mean_hz * 1.08
    assert m["happy"].duration_s < m["base"].duration_s


def test_ssml_settings_are_part_of_the_cache_key(client: FlaskClient) -> None:
    text = "缓存键测试一下。"
    first = client.post("/api/tts", json={"text": f"<speak>{text}</speak>"})
    second = client.post("/api/tts", json={
        "text": f'<speak><prosody volume="-6dB">{text}</prosody></speak>'})
    assert first.status_code == second.status_code == 200
    assert second.headers["X-Cache"] == "miss" and first.data != second.data


def test_streamed_ssml_matches_whole(client: FlaskClient) -> None:
    text = ('<speak><break time="200ms"/>你好。<break time="300ms"/>'
            '<prosody volume="-6dB" pitch="+10%">我们走吧。</prosody></speak>')
    whole = client.post("/api/tts", json={"text": text, "format": "pcm"})
    streamed = client.post("/api/tts/stream", json={"text": text + " ", "format": "pcm"})
    assert whole.status_code == streamed.status_code == 200
    a = np.frombuffer(whole.data, "<i2").astype(np.float32)
    b = np.frombuffer(streamed.data, "<i2").astype(np.float32)
    assert abs(len(a) - len(b)) <= 2
    n = min(len(a), len(b))
    assert np.abs(a[:n] - b[:n]).max() <= 400  # fades land on slightly different samples


# -- what is and is not SSML; malformed, hostile, oversized ---------------------------


@pytest.mark.parametrize("text", ["a < b 是真的", "1<2，对吧", "<不是标签>你好", "x<speak"])
def test_plain_text_with_angle_brackets_is_plain_text(client: FlaskClient, text: str) -> None:
    assert not is_ssml(text)
    audio, _ = tts(client, text)
    assert len(audio) > 0


@pytest.mark.parametrize(("text", "where"), [
    ("<speak>你好<break></speak>", "line 1, column 19"),
    ("<speak>\n你好\n<prosody rate='fast'>好</speak>", "line 3, column 25"),
    ("<speak>你好", "line 1, column 10"),
    ("\n\n  <speak>你好 & 他</speak>", "line 3, column 14"),
    ('  <?xml version="1.0"?>\n<speak>你好 & 他</speak>', "line 2, column 12"),
    ('<speak><break time="300ms"/ </speak>', "line 1, column"),
])
def test_malformed_ssml_is_400_with_position(client: FlaskClient, text: str, where: str) -> None:
    message = error_of(client, text, 400)
    assert "not well-formed SSML" in message and where in message


@pytest.mark.parametrize(("text", "says"), [
    ("<speak><foo>你好</foo></speak>", "unsupported SSML element <foo>"),
    ("<voice>你好</voice>", "must be <speak>") if False else
    ("<speak><speak>你好</speak></speak>", "only be the root"),
    ('<speak><break time="forever"/></speak>', "300ms"),
    ('<speak><prosody rate="x-speedy">好</prosody></speak>', "x-fast"),
    ('<speak><prosody rate="500%">好</prosody></speak>', "0.5 to 2"),
    ('<speak><emotion category="bored">好</emotion></speak>', "category must be one of"),
    ('<speak><emotion category="sad" intensity="9">好</emotion></speak>', "0 to 2"),
    ('<speak><say-as interpret-as="spell-out">好</say-as></speak>', "interpret-as"),
    ('<speak><say-as interpret-as="date">昨天</say-as></speak>', "not a date"),
    ("<speak><sub>WHO</sub></speak>", "alias"),
    ('<speak><break time="1s" color="red"/></speak>', "no attribute 'color'"),
])
def test_unsupported_ssml_is_400_naming_it(client: FlaskClient, text: str, says: str) -> None:
    assert says in error_of(client, text, 400)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE speak [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<speak>&lol9;</speak>"""


@pytest.mark.parametrize("text", [
    BILLION_LAUGHS,
    '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
    '<?xml version="1.0"?><!DOCTYPE speak SYSTEM "http://127.0.0.1:9/x.dtd"><speak>好</speak>',
    '<!DOCTYPE speak [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><speak>好</speak>',
])
def test_hostile_ssml_is_refused_cleanly(client: FlaskClient, text: str) -> None:
    started = time.perf_counter()
    message = error_of(client, text, 400)
    assert time.perf_counter() - started < 1.0
    assert "DTD" in message and "root:" not in message and "lol" not in message


def test_undefined_entity_is_400(client: FlaskClient) -> None:
    assert "undefined entity" in error_of(client, "<speak>&nope;</speak>", 400)


def test_oversized_ssml_is_413(client: FlaskClient) -> None:
    deep = "<speak>" + '<prosody rate="100%">' * (MAX_DEPTH + 1) + "好" + \
        "</prosody>" * (MAX_DEPTH + 1) + "</speak>"
    assert f"deeper than {MAX_DEPTH}" in error_of(client, deep, 413)
    breaks = "<speak>好" + '<break time="10s"/>' * 7 + "</speak>"
    assert "60 s" in error_of(client, breaks, 413)
    assert "longer than 10 s" in error_of(client, '<speak><break time="11s"/></speak>', 413)
    huge = "<speak>" + "好" * 3000 + "</speak>"
    assert "limit is 2000" in error_of(client, huge, 413)


def test_frontend_route_shows_ssml_reading(client: FlaskClient) -> None:
    body = frontend_of(client, '<speak>电话<say-as interpret-as="telephone">110</say-as>'
                               "</speak>")
    assert body["normalized"] == "电话幺幺零"


def test_parse_ssml_reports_position_directly() -> None:
    with pytest.raises(SsmlError, match="line 2, column 2"):
        parse_ssml("<speak>\n<<</speak>")


def test_lexicon_file_overrides_reading_through_http(voice_dir: Path, tmp_path: Path) -> None:
    """LEXICON_FILE (README, "Pronunciation lexicon") is loaded at start-up and wins."""
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text("# operator readings\n银行\tyin2 xing2\n重庆\tchong2 qing4  # city\n",
                       encoding="utf-8")
    app = started_app(make_settings(voice_dir, lexicon_file=lexicon))
    try:
        client = app.test_client()
        assert pinyin_of(client, "他在银行工作")[2:4] == ["yin2", "xing2"]
        assert pinyin_of(client, "<speak>去重庆</speak>")[1:] == ["chong2", "qing4"]
        assert client.post("/api/tts", json={"text": "银行"}).status_code == 200
    finally:
        app.extensions["tts"].close()
