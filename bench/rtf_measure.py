"""Timing the embedded voice over the corpus, in process: each configuration (voice
directory x ORT threads per session) speaks every line in turn, in an order that
rotates per line, and each pass yields per-sentence samples and their statistics.
bench/rtf.py reports them; bench/phases.py runs them inside `python -m bench`.
"""

from __future__ import annotations

import gc
import json
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tts.audio import join
from tts.emotions import Prosody
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.testing.procfs import loadavg

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One corpus line through one configuration: where the time went."""

    frontend_s: float
    acoustic_s: float
    vocoder_s: float
    total_s: float  # wall clock text -> joined float audio
    audio_s: float  # length of the joined audio (speech plus inserted pauses)
    speech_s: float  # the part the vocoder produced

    @property
    def rtf(self) -> float:
        return self.total_s / self.audio_s


@dataclass
class Config:
    """One voice directory at one ORT thread count, with its samples per run."""

    label: str
    voice_dir: Path
    threads: int
    engine: OnnxEngine
    frontend: Frontend
    runs: list[list[Sample]] = field(default_factory=list)

    def speak(self, text: str) -> Sample:
        started = time.perf_counter()
        sentences = self.frontend.analyze(text)
        analyzed = time.perf_counter()
        pieces: list[np.ndarray] = []
        acoustic = vocoder = 0.0
        for sentence in sentences:
            t0 = time.perf_counter()
            mel, _ = self.engine.mel(sentence.ids, Prosody())
            t1 = time.perf_counter()
            pieces.append(self.engine.vocode(mel))
            acoustic += t1 - t0
            vocoder += time.perf_counter() - t1
        audio = join(pieces, [s.pause_s for s in sentences], self.engine.sample_rate)
        total = time.perf_counter() - started
        rate = self.engine.sample_rate
        return Sample(analyzed - started, acoustic, vocoder, total, len(audio) / rate,
                      sum(len(p) for p in pieces) / rate)


@dataclass(frozen=True)
class RunStats:
    """The figures of one configuration over one pass of the corpus."""

    corpus_rtf: float  # sum of synthesis time / sum of audio time
    median_rtf: float  # per sentence
    p90_rtf: float
    acoustic_share: float  # median per sentence, of the end-to-end time
    vocoder_share: float
    frontend_ms: float  # median per sentence

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> RunStats:
        rtfs = [s.rtf for s in samples]
        return cls(
            corpus_rtf=sum(s.total_s for s in samples) / sum(s.audio_s for s in samples),
            median_rtf=statistics.median(rtfs),
            p90_rtf=float(np.percentile(rtfs, 90)),
            acoustic_share=statistics.median(s.acoustic_s / s.total_s for s in samples),
            vocoder_share=statistics.median(s.vocoder_s / s.total_s for s in samples),
            frontend_ms=1000 * statistics.median(s.frontend_s for s in samples),
        )


def median_of_runs(config: Config) -> RunStats:
    """Each figure is the median of its per-run values."""
    per_run = [RunStats.of(samples) for samples in config.runs]
    fields = RunStats.__dataclass_fields__
    return RunStats(**{name: statistics.median(getattr(r, name) for r in per_run)
                       for name in fields})


def paired_ratio(a: Config, b: Config) -> tuple[float, float]:
    """a/b: median over runs of the corpus-RTF ratio, and median per-sentence ratio
    (same sentence, same run, back to back: the least noisy comparison)."""
    corpus = statistics.median(RunStats.of(x).corpus_rtf / RunStats.of(y).corpus_rtf
                               for x, y in zip(a.runs, b.runs, strict=True))
    sentence = statistics.median(sx.rtf / sy.rtf for x, y in zip(a.runs, b.runs, strict=True)
                                 for sx, sy in zip(x, y, strict=True))
    return corpus, sentence


def voice_label(voice_dir: Path) -> str:
    """'optimized' or 'as converted', from the optimizations the build recorded."""
    manifest = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    applied = manifest.get("provenance", {}).get("optimizations", [])
    return "optimized" if applied else "as converted"


def load_configs(voice_dirs: Sequence[Path], threads: Sequence[int]) -> list[Config]:
    frontends: dict[str, Frontend] = {}
    configs: list[Config] = []
    for voice_dir in voice_dirs:
        label = voice_label(voice_dir)
        for n in threads:
            engine = OnnxEngine.load(voice_dir, device="cpu", threads=n)
            tables = engine.symbol_tables()
            key = json.dumps(tables, sort_keys=True)
            if key not in frontends:
                frontends[key] = Frontend(*tables)
            engine.warm_up()
            configs.append(Config(label, voice_dir, n, engine, frontends[key]))
    return configs


def measure(configs: list[Config], corpus: list[str], runs: int) -> list[str]:
    """Interleave: each line goes through every configuration, rotating who goes first."""
    for config in configs:  # one untimed pass over a few lines: first-call costs out
        for text in corpus[:3]:
            config.speak(text)
    loads = []
    for run in range(runs):
        gc.collect()
        samples: list[list[Sample]] = [[] for _ in configs]
        for i, text in enumerate(corpus):
            shift = (i + run) % len(configs)
            for k in [*range(shift, len(configs)), *range(shift)]:
                samples[k].append(configs[k].speak(text))
        for config, got in zip(configs, samples, strict=True):
            config.runs.append(got)
        loads.append(loadavg())
        _LOGGER.info("run %d/%d done, load %s", run + 1, runs, loads[-1])
    return loads
