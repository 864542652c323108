"""An emotion preset measured on the embedded voice, for bench/emotions.py and
tests/test_emotions.py: each corpus line said as one request would be (front end,
engine, output gain, join), then its prosody measured."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from tts.audio import join
from tts.emotions import prosody_for
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.synthesizer import with_gain
from tts.testing.prosody import Measures, measure
from tts.testing.texts import load_corpus


@dataclass(frozen=True)
class Row:
    emotion: str
    f0_mean_hz: float
    f0_std_hz: float
    rms_db: float
    syllables_per_s: float


def say(engine: OnnxEngine, frontend: Frontend, text: str, emotion: str,
        intensity: float = 1.0) -> tuple[np.ndarray, int]:
    """One request's audio with the preset, and its syllable count."""
    prosody = prosody_for(emotion, intensity)
    sentences = frontend.analyze(text)
    pieces = [with_gain(engine.synthesize(engine.voice.name, s.text, s.ids, prosody).audio,
                        prosody.gain) for s in sentences]
    audio = join(pieces, [s.pause_s for s in sentences], engine.sample_rate)
    return audio, sum(len(s.pinyin) for s in sentences)


def measure_emotion(engine: OnnxEngine, frontend: Frontend, lines: list[str], emotion: str,
                    intensity: float = 1.0) -> Row:
    """The preset's measures over `lines`: the mean of each over the lines."""
    found: list[Measures] = []
    for line in lines:
        audio, syllables = say(engine, frontend, line, emotion, intensity)
        found.append(measure(audio, engine.sample_rate, syllables))
    return Row(emotion,
               statistics.fmean(m.f0_mean_hz for m in found),
               statistics.fmean(m.f0_std_hz for m in found),
               statistics.fmean(m.rms_db for m in found),
               statistics.fmean(m.syllables_per_s for m in found))


def corpus_lines(count: int) -> list[str]:
    """The first `count` corpus lines: the texts every preset says."""
    return load_corpus()[:count]
