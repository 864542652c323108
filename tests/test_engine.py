"""The real ONNX voice: plausible, deterministic, controllable, thread-safe speech."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tts.emotions import Prosody
from tts.engines.onnx_engine import MAX_MODEL_SPEED, OnnxEngine
from tts.frontend import Frontend

SENTENCE = "今天天气很好，我们一起去公园散步吧。"


def speak(engine: OnnxEngine, frontend: Frontend, text: str, *, speed: float = 1.0,
          f0: float = 1.0, energy: float = 1.0) -> np.ndarray:
    said = Prosody(speed=speed, f0=f0, energy=energy)
    audio = [engine.synthesize(engine.voice.name, s.text, s.ids, said).audio
             for s in frontend.analyze(text)]
    return np.concatenate(audio)


def syllables(frontend: Frontend, text: str) -> int:
    return sum(len(s.pinyin) for s in frontend.analyze(text))


@pytest.mark.parametrize("text", [
    SENTENCE,
    "银行行长说：2026年11月23日的会议改到10:30。",
    "人工智能技术正在快速发展，语音合成已经广泛应用于导航、客服和有声读物等领域。",
])
def test_duration_is_plausible_for_the_text(engine: OnnxEngine, voice_frontend: Frontend,
                                            text: str) -> None:
    audio = speak(engine, voice_frontend, text)
    seconds = len(audio) / engine.sample_rate
    rate = syllables(voice_frontend, text) / seconds
    assert 3.5 <= rate <= 6.0, f"{rate:.2f} syllables/s over {seconds:.2f} s"


def test_audio_is_speech_not_silence_and_not_clipped(engine: OnnxEngine,
                                                     voice_frontend: Frontend) -> None:
    audio = speak(engine, voice_frontend, SENTENCE)
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.02, "output is (almost) silent"
    assert np.max(np.abs(audio)) < 1.0
    assert np.mean(np.abs(audio) > 0.99) < 1e-4, "samples pinned at full scale"
    # Speech has pauses and syllables: short-time energy varies a lot.
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    assert energy.max() > 10 * np.percentile(energy, 10)


def test_same_input_gives_identical_audio(engine: OnnxEngine, voice_frontend: Frontend) -> None:
    first = speak(engine, voice_frontend, SENTENCE)
    second = speak(engine, voice_frontend, SENTENCE)
    assert np.array_equal(first, second)


def test_speed_changes_duration(engine: OnnxEngine, voice_frontend: Frontend) -> None:
    normal = len(speak(engine, voice_frontend, SENTENCE))
    fast = len(speak(engine, voice_frontend, SENTENCE, speed=1.5))
    slow = len(speak(engine, voice_frontend, SENTENCE, speed=0.75))
    assert fast < 0.8 * normal
    assert slow > 1.2 * normal


@pytest.mark.parametrize("speed", [1.5, 2.0])
def test_speech_beyond_the_voices_own_speed_is_shortened_to_the_asked_speed(
        engine: OnnxEngine, voice_frontend: Frontend, speed: float) -> None:
    """Above MAX_MODEL_SPEED the model speaks at that speed and the audio is stretched
    the rest of the way: as long as `speed` asks, and not what the model alone gives."""
    [sentence] = voice_frontend.analyze(SENTENCE.rstrip("。"))
    [at_limit] = engine.stream(engine.voice.name, sentence.text, sentence.ids,
                               Prosody(speed=MAX_MODEL_SPEED), whole=True)
    [fast] = engine.stream(engine.voice.name, sentence.text, sentence.ids,
                           Prosody(speed=speed), whole=True)
    assert len(fast.audio) == round(len(at_limit.audio) * MAX_MODEL_SPEED / speed)
    model_alone = engine.vocode(engine.mel(sentence.ids, Prosody(speed=speed))[0])
    assert len(fast.audio) != len(model_alone)


def test_pitch_and_energy_controls_change_the_audio(engine: OnnxEngine,
                                                    voice_frontend: Frontend) -> None:
    # The energy ratio scales the model's (normalized) energy feature: it changes the
    # spectrum, not simply the loudness, so only "it changes the audio" is asserted.
    base = speak(engine, voice_frontend, SENTENCE)
    energetic = speak(engine, voice_frontend, SENTENCE, energy=1.4)
    high = speak(engine, voice_frontend, SENTENCE, f0=1.3)
    assert len(high) == len(base) and not np.array_equal(base, high)
    assert not np.array_equal(base, energetic)


def test_concurrent_calls_match_serial_calls(engine: OnnxEngine, voice_frontend: Frontend) -> None:
    texts = ["你好。", SENTENCE, "北京欢迎你。", "语音合成服务已经准备好了。"] * 2
    serial = [speak(engine, voice_frontend, t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda t: speak(engine, voice_frontend, t), texts))
    for one, other in zip(serial, parallel, strict=True):
        assert np.array_equal(one, other)


@pytest.mark.parametrize("frames", [1, 3, 9])
def test_vocoder_accepts_very_short_mels(engine: OnnxEngine, frames: int) -> None:
    mel = np.full((1, frames, 80), -4.0, dtype=np.float32)
    assert len(engine.vocode(mel)) == frames * engine.voice.hop_size


def test_engine_reports_where_it_runs(engine: OnnxEngine) -> None:
    assert engine.device == "cpu"
    assert engine.acoustic.get_providers()[0] == "CPUExecutionProvider"
    assert engine.warm_up() > 0


@pytest.mark.parametrize("prosody", [Prosody(), Prosody(speed=1.5), Prosody(speed=0.75),
                                     Prosody(pitch=1.15), Prosody(pitch=0.9, speed=1.2)])
@pytest.mark.parametrize("whole", [True, False])
def test_durations_cover_the_audio(engine: OnnxEngine, voice_frontend: Frontend,
                                   prosody: Prosody, whole: bool) -> None:
    """Per-symbol durations (what timestamps are made of) add up to the audio, streamed
    or whole, through speed and pitch shift."""
    [sentence] = voice_frontend.analyze("我们一起去公园散步吧")
    chunks = list(engine.stream(engine.voice.name, sentence.text, sentence.ids, prosody,
                                whole=whole))
    assert chunks[0].durations_s is not None
    assert all(c.durations_s is None for c in chunks[1:])
    assert len(chunks[0].durations_s) == len(sentence.ids)
    # a stretched sentence comes in one chunk: the stretcher takes it whole
    assert (len(chunks) == 1) == (whole or prosody.speed > MAX_MODEL_SPEED) and chunks[-1].last
    seconds = sum(len(c.audio) for c in chunks) / engine.sample_rate
    frame_s = engine.voice.hop_size / engine.sample_rate
    assert sum(chunks[0].durations_s) == pytest.approx(seconds, abs=frame_s)


def test_a_pass_too_long_for_the_model_keeps_its_durations(engine: OnnxEngine,
                                                          voice_frontend: Frontend) -> None:
    # said slowly, a very long pass has more frames than the model has positions:
    # the engine says it in two halves and the durations still cover the audio
    text = "我们今天一起去北京的公园散步看到了很多漂亮的花和高大的树木" * 6
    ids = [i for s in voice_frontend.analyze(text) for i in s.ids[1:-2]]
    sil, eos = engine.voice.symbol_to_id["sil"], engine.voice.symbol_to_id["eos"]
    ids = [sil, *ids, sil, eos]
    [chunk] = engine.stream(engine.voice.name, "", ids, Prosody(speed=0.5), whole=True)
    assert chunk.durations_s is not None and len(chunk.durations_s) == len(ids)
    assert sum(chunk.durations_s) == pytest.approx(len(chunk.audio) / engine.sample_rate,
                                                   abs=0.02)
