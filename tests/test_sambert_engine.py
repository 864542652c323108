"""The Sambert engine against a stand-in pipeline at the ModelScope boundary.

ModelScope's stack cannot be installed here (see README, "Sambert engine"), so
`StandInSambertPipeline` (tests/sambert_stand_in.py) takes the pipeline's place
with its real call signature and output type. Everything on this side of that
boundary is the real code: settings, `load_engine`, warm-up, SSML building, WAV
decoding, per-voice locks, the HTTP routes, the cache.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from tests.conftest import make_settings, started_app
from tests.sambert_stand_in import SECONDS_PER_CHAR, VOICES, StandInSambertPipeline
from tts.emotions import Prosody, prosody_for
from tts.engines import EngineError, load_engine
from tts.engines.sambert_engine import (
    VOICE_EMOTIONS,
    SambertEngine,
    factory_from_setting,
    to_ssml,
)

STAND_IN = "tests.sambert_stand_in:StandInSambertPipeline"


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "damo" / "speech_sambert-hifigan_tts_zh-cn_16k"
    path.mkdir(parents=True)
    (path / "configuration.json").write_text('{"task": "text-to-speech"}', encoding="utf-8")
    return path


def sambert_settings(voice_dir: Path, model_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"engine": "sambert", "sambert_model_dir": model_dir,
                                 "device": "cpu", **overrides}
    return make_settings(voice_dir, **values)


@pytest.fixture()
def stand_in_engine(voice_dir: Path, model_dir: Path) -> SambertEngine:
    engine = load_engine(sambert_settings(voice_dir, model_dir),
                         sambert_pipeline=StandInSambertPipeline)
    assert isinstance(engine, SambertEngine)
    return engine


def pipeline_of(engine: SambertEngine, voice: str) -> StandInSambertPipeline:
    pipeline = engine.pipelines[voice]
    assert isinstance(pipeline, StandInSambertPipeline)
    return pipeline


def test_stand_in_load_builds_one_pipeline_per_voice_from_the_local_dir(
        stand_in_engine: SambertEngine, model_dir: Path) -> None:
    assert list(stand_in_engine.pipelines) == list(VOICES)
    for voice in VOICES:
        pipeline = pipeline_of(stand_in_engine, voice)
        assert pipeline.model_dir == str(model_dir) and pipeline.device == "cpu"
    assert stand_in_engine.sample_rate == 16000 and stand_in_engine.name == "sambert"
    assert [(v.name, v.emotions) for v in stand_in_engine.voices()] == \
        [(v, VOICE_EMOTIONS[v]) for v in VOICES]
    assert "surprise" not in VOICE_EMOTIONS["zhizhe_emo"]
    assert {"calm", "serious"} <= set(VOICE_EMOTIONS["zhizhe_emo"])


def test_stand_in_warm_up_calls_every_voice(stand_in_engine: SambertEngine) -> None:
    stand_in_engine.warm_up()
    for voice in VOICES:
        calls = pipeline_of(stand_in_engine, voice).calls
        assert calls and all(v == voice for _, v in calls)


def test_stand_in_receives_emotion_as_ssml_and_audio_is_decoded_at_16k(
        stand_in_engine: SambertEngine) -> None:
    result = stand_in_engine.synthesize("zhitian_emo", "你好<世界>&", [],
                                        prosody_for("happy", 1.5))
    ssml, voice = pipeline_of(stand_in_engine, "zhitian_emo").calls[-1]
    assert voice == "zhitian_emo"
    assert ssml == ('<speak><emotion category="happy" intensity="1.50">'
                    "你好&lt;世界&gt;&amp;</emotion></speak>")
    assert result.audio.dtype == np.float32
    assert len(result.audio) == int(16000 * (0.1 + SECONDS_PER_CHAR * len("你好<世界>&")))
    assert 0.25 < float(np.abs(result.audio).max()) <= 0.31


def test_stand_in_unsupported_emotion_falls_back_to_neutral(
        stand_in_engine: SambertEngine) -> None:
    stand_in_engine.synthesize("zhizhe_emo", "你好", [], prosody_for("surprise"))
    ssml, _ = pipeline_of(stand_in_engine, "zhizhe_emo").calls[-1]
    assert 'category="neutral"' in ssml


def test_stand_in_calls_are_serialized_per_voice_and_parallel_across_voices(
        stand_in_engine: SambertEngine) -> None:
    for voice in VOICES:
        pipeline_of(stand_in_engine, voice).delay_s = 0.1

    def run(voice: str) -> None:
        stand_in_engine.synthesize(voice, "你好", [], Prosody())

    threads = [threading.Thread(target=run, args=(v,)) for v in ("zhitian_emo",) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pipeline_of(stand_in_engine, "zhitian_emo").max_active == 1
    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(v,)) for v in VOICES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.perf_counter() - started < 0.35  # four voices at once, not 0.4 s in a row


def test_to_ssml_clamps_intensity() -> None:
    assert to_ssml("好", "sad", 5.0) == \
        '<speak><emotion category="sad" intensity="2.00">好</emotion></speak>'


def test_missing_model_without_download_names_the_fix(voice_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="SAMBERT_DOWNLOAD=1"):
        load_engine(sambert_settings(voice_dir, tmp_path / "nothing"),
                    sambert_pipeline=StandInSambertPipeline)


def test_missing_modelscope_names_what_to_install(voice_dir: Path, model_dir: Path) -> None:
    with pytest.raises(EngineError) as caught:
        load_engine(sambert_settings(voice_dir, model_dir))
    message = str(caught.value)
    assert "requirements-sambert.txt" in message and "Python 3.10" in message
    assert "modelscope.oss-cn-beijing.aliyuncs.com/releases/repo.html" in message


def test_download_without_modelscope_names_what_to_install(voice_dir: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"requirements-sambert\.txt"):
        load_engine(sambert_settings(voice_dir, tmp_path / "fetch", sambert_download=1),
                    sambert_pipeline=StandInSambertPipeline)


def test_unknown_voice_and_cuda_without_torch_are_start_up_errors(voice_dir: Path,
                                                                  model_dir: Path) -> None:
    with pytest.raises(EngineError, match="unknown voice"):
        load_engine(sambert_settings(voice_dir, model_dir, sambert_voices="zhitian_emo,nobody"),
                    sambert_pipeline=StandInSambertPipeline)
    with pytest.raises(EngineError, match="DEVICE=cuda"):
        load_engine(sambert_settings(voice_dir, model_dir, device="cuda"),
                    sambert_pipeline=StandInSambertPipeline)


def test_front_end_tables_come_from_the_embedded_voice(voice_dir: Path, model_dir: Path,
                                                       tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="make voice"):
        load_engine(sambert_settings(tmp_path / "no-voice", model_dir),
                    sambert_pipeline=StandInSambertPipeline)


def test_pipeline_setting_is_checked() -> None:
    assert factory_from_setting(STAND_IN) is StandInSambertPipeline
    with pytest.raises(EngineError, match=r"package\.module:callable"):
        factory_from_setting("nocolon")
    with pytest.raises(EngineError, match="cannot be imported"):
        factory_from_setting("tests.sambert_stand_in:Nothing")


# -- the whole HTTP path ------------------------------------------------------------


@pytest.fixture()
def sambert_app(voice_dir: Path, model_dir: Path) -> Iterator[Flask]:
    app = started_app(sambert_settings(voice_dir, model_dir, sambert_pipeline=STAND_IN))
    yield app
    app.extensions["tts"].close()


def stand_ins_of(app: Flask) -> dict[str, StandInSambertPipeline]:
    engine = app.extensions["tts"].engine
    assert isinstance(engine, SambertEngine)
    return {v: pipeline_of(engine, v) for v in engine.pipelines}


def test_stand_in_serves_voices_over_http(sambert_app: Flask) -> None:
    client: FlaskClient = sambert_app.test_client()
    body = client.get("/api/voices").get_json()
    assert [(v["name"], v["engine"], v["sample_rate"], tuple(v["emotions"]))
            for v in body["voices"]] == \
        [(v, "sambert", 16000, VOICE_EMOTIONS[v]) for v in VOICES]
    assert all(p.calls for p in stand_ins_of(sambert_app).values())  # warmed at start-up
    assert client.get("/readyz").status_code == 200


def test_stand_in_serves_tts_over_http(sambert_app: Flask) -> None:
    client: FlaskClient = sambert_app.test_client()
    response = client.post("/api/tts", json={"text": "今天天气很好。", "voice": "zhizhe_emo",
                                             "emotion": "calm"})
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Engine"] == "sambert"
    audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
    assert rate == 16000
    assert len(audio) / rate == pytest.approx(0.1 + SECONDS_PER_CHAR * len("今天天气很好"),
                                              abs=0.01)
    ssml, voice = stand_ins_of(sambert_app)["zhizhe_emo"].calls[-1]
    assert voice == "zhizhe_emo"
    assert ssml == '<speak><emotion category="calm" intensity="1.00">今天天气很好</emotion></speak>'
    again = client.post("/api/tts", json={"text": "今天天气很好。", "voice": "zhizhe_emo",
                                          "emotion": "calm"})
    assert again.headers["X-Cache"] == "hit-memory" and again.data == response.data
    bad = client.post("/api/tts", json={"text": "你好", "voice": "zhizhe_emo",
                                        "emotion": "surprise"})
    assert bad.status_code == 400 and "zhizhe_emo" in bad.get_json()["error"]["message"]


def test_stand_in_gets_ssml_emotion_per_sentence_over_http(sambert_app: Flask) -> None:
    client: FlaskClient = sambert_app.test_client()
    text = ('<speak>你好<break time="300ms"/>'
            '<emotion category="happy" intensity="0.5">很高兴见到你</emotion></speak>')
    response = client.post("/api/tts", json={"text": text, "voice": "zhitian_emo"})
    assert response.status_code == 200, response.get_json()
    calls = [c for c, _ in stand_ins_of(sambert_app)["zhitian_emo"].calls[-2:]]
    assert calls == ['<speak><emotion category="neutral" intensity="1.00">你好</emotion></speak>',
                     '<speak><emotion category="happy" intensity="0.50">很高兴见到你</emotion>'
                     "</speak>"]
    audio, rate = sf.read(io.BytesIO(response.data), dtype="float32")
    expected = (0.1 + SECONDS_PER_CHAR * 2) + 0.3 + (0.1 + SECONDS_PER_CHAR * 6)
    assert len(audio) / rate == pytest.approx(expected, abs=0.01)
