"""The Sambert-HiFiGAN engine: ModelScope's multi-emotion Mandarin pipeline, 16 kHz.

The pipeline takes text, not symbol ids, and its emotion only as SSML in that
text: each sentence goes in as
``<speak><emotion category="happy" intensity="1.0">...</emotion></speak>`` and
comes back as a whole 16-bit WAV file, decoded here to float audio so that the
service's joining, encoding and caching treat it like any other engine's.

One pipeline per voice, each behind its own lock: ModelScope's `ttsfrd` text
front end is not thread-safe and lives inside the pipeline object, so a pipeline
per voice lets different voices run at once while calls into one pipeline never
overlap. Each voice's weights load lazily on its first call; `warm_up` makes that
call for every configured voice before the worker reports ready.

The service's own front end still plans every request (sentence splitting, the
pronunciation check, cache keys): it needs symbol tables, which this engine takes
from the built embedded voice's manifest (`symbol_tables`). The ids it computes
are not used here, and neither are <phoneme> overrides (the pipeline reads the
sentence text with its own front end).

Nothing here imports ModelScope until `modelscope_pipeline` runs, so the engine
and its tests work where the stack cannot be installed (Python >= 3.11, no
ModelScope wheel index), with a stand-in pipeline at the ModelScope boundary.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import soundfile as sf
import soxr

from tts.emotions import Prosody
from tts.engines.base import AudioChunk, EngineError, SentenceAudio, VoiceInfo

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000
OUTPUT_WAV = "output_wav"  # modelscope.outputs.OutputKeys.OUTPUT_WAV
MODELSCOPE_INDEX = "https://modelscope.oss-cn-beijing.aliyuncs.com/releases/repo.html"
INSTALL_HINT = (
    "ENGINE=sambert needs ModelScope's Sambert stack on Python 3.10: "
    "`pip install -r requirements-sambert.txt` (modelscope from PyPI; kantts and ttsfrd "
    f"only from ModelScope's wheel index, --find-links {MODELSCOPE_INDEX}; the PyPI "
    "packages of those names are placeholders). See README, 'Sambert engine'."
)

_BASE = ("neutral", "happy", "angry", "sad", "fear")
# Each voice's emotions (model card). zhiyan_emo also has "arousal", which is not
# in the service's emotion vocabulary (API.md) and so is not offered.
VOICE_EMOTIONS: dict[str, tuple[str, ...]] = {
    "zhitian_emo": (*_BASE, "hate", "surprise"),
    "zhiyan_emo": (*_BASE, "hate", "surprise"),
    "zhizhe_emo": (*_BASE, "calm", "serious"),
    "zhibei_emo": (*_BASE, "hate", "surprise"),
}
INTENSITY_RANGE = (0.01, 2.0)
_WARM_UP_TEXTS = ("你好。", "欢迎使用语音合成服务，今天天气很好。")


class SambertPipeline(Protocol):
    """What this engine uses of a ModelScope text-to-speech pipeline."""

    def __call__(self, *, input: str, voice: str) -> dict[str, Any]: ...


PipelineFactory = Callable[[str, str], SambertPipeline]  # (model_dir, device) -> pipeline


def modelscope_pipeline(model_dir: str, device: str) -> SambertPipeline:
    """ModelScope's own pipeline from a local model directory (no network)."""
    try:
        from modelscope.pipelines import pipeline
        from modelscope.utils.constant import Tasks
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT} (import failed: {exc}; running Python "
                          f"{sys.version_info.major}.{sys.version_info.minor})") from exc
    built: SambertPipeline = pipeline(task=Tasks.text_to_speech, model=model_dir,
                                      device="gpu" if device == "cuda" else "cpu")
    return built


def factory_from_setting(spec: str) -> PipelineFactory:
    """SAMBERT_PIPELINE=`module:callable`, or ModelScope's pipeline when empty."""
    if not spec:
        return modelscope_pipeline
    module, _, name = spec.partition(":")
    if not module or not name:
        raise EngineError(f"SAMBERT_PIPELINE={spec!r} must look like 'package.module:callable'")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise EngineError(f"SAMBERT_PIPELINE={spec!r} cannot be imported: {exc}") from exc
    if not callable(found):
        raise EngineError(f"SAMBERT_PIPELINE={spec!r} is not callable")
    factory: PipelineFactory = found
    return factory


def pick_device(device: str) -> str:
    """DEVICE=auto|cpu|cuda -> where the pipeline runs (torch decides what CUDA means)."""
    if device == "cpu":
        return "cpu"
    try:
        import torch
        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise EngineError("DEVICE=cuda but torch sees no CUDA device (or torch is missing): "
                          "run on a GPU image with a CUDA build of torch, or use DEVICE=auto/cpu")
    return "cuda" if has_cuda else "cpu"


def ensure_model(model_dir: Path, model_id: str, download: bool) -> Path:
    """The model directory, fetched with snapshot_download only when allowed."""
    if (model_dir / "configuration.json").is_file():
        return model_dir
    if not download:
        raise EngineError(
            f"no Sambert model at {model_dir} (configuration.json missing): download "
            f"{model_id!r} there at image build, point SAMBERT_MODEL_DIR at it, or set "
            "SAMBERT_DOWNLOAD=1 to fetch it at start-up"
        )
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError as exc:
        raise EngineError(f"SAMBERT_DOWNLOAD=1 but ModelScope is missing. {INSTALL_HINT}") from exc
    # snapshot_download puts the model at <cache_dir>/<model id>
    parts = Path(model_id).parts
    cache_dir = model_dir.parents[len(parts) - 1] if model_dir.parts[-len(parts):] == parts \
        else model_dir.parent
    _LOGGER.info("sambert: downloading %s into %s", model_id, cache_dir)
    fetched = Path(snapshot_download(model_id, cache_dir=str(cache_dir)))
    if not (fetched / "configuration.json").is_file():
        raise EngineError(f"snapshot_download({model_id!r}) gave {fetched} without "
                          "configuration.json")
    return fetched


def model_hash_of(model_dir: Path, voices: tuple[str, ...]) -> str:
    """Changes when any model file changes (name, size, mtime) or the voice set does."""
    digest = hashlib.sha256((model_dir / "configuration.json").read_bytes())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}:{stat.st_size}:{stat.st_mtime_ns}"
                      .encode())
    digest.update(",".join(voices).encode())
    return digest.hexdigest()[:16]


def to_ssml(text: str, emotion: str, intensity: float) -> str:
    """The pipeline's input for one sentence: its emotion as SSML around the text."""
    low, high = INTENSITY_RANGE
    level = min(high, max(low, intensity))
    return (f"<speak><emotion category={quoteattr(emotion)} intensity=\"{level:.2f}\">"
            f"{escape(text)}</emotion></speak>")


def decode_wav(data: bytes) -> np.ndarray:
    """The pipeline's WAV bytes -> mono float32 audio at 16 kHz."""
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise EngineError(f"the Sambert pipeline returned audio that is not a WAV file: "
                          f"{exc}") from exc
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)


@dataclass
class SambertEngine:
    """One per worker, created at start-up by `load`, never per request."""

    pipelines: dict[str, SambertPipeline]
    tables: tuple[dict[str, int], dict[str, list[str]]]
    device: str
    hash: str
    name: str = "sambert"
    _locks: dict[str, threading.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._locks = {voice: threading.Lock() for voice in self.pipelines}

    @classmethod
    def load(cls, *, model_dir: Path, model_id: str, voices: tuple[str, ...],
             tables: tuple[dict[str, int], dict[str, list[str]]], device: str = "auto",
             download: bool = False, factory: PipelineFactory = modelscope_pipeline,
             ) -> SambertEngine:
        unknown = [v for v in voices if v not in VOICE_EMOTIONS]
        if not voices or unknown:
            raise EngineError(f"SAMBERT_VOICES has unknown voice(s) {unknown}; the model has: "
                              + ", ".join(VOICE_EMOTIONS))
        where = pick_device(device)
        path = ensure_model(model_dir, model_id, download)
        pipelines = {voice: factory(str(path), where) for voice in voices}
        _LOGGER.info("sambert engine: %s from %s on %s, voices %s", model_id, path, where,
                     ", ".join(voices))
        return cls(pipelines=pipelines, tables=tables, device=where,
                   hash=model_hash_of(path, voices))

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def model_hash(self) -> str:
        return self.hash

    def symbol_tables(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        return self.tables

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(v, "zh-CN", SAMPLE_RATE, self.name, VOICE_EMOTIONS[v])
                for v in self.pipelines]

    def warm_up(self) -> float:
        """Load every voice's weights now (they load on first use) and run each once more."""
        started = time.perf_counter()
        for voice in self.pipelines:
            for text in _WARM_UP_TEXTS:
                self.synthesize(voice, text, [], Prosody())
        return time.perf_counter() - started

    def synthesize(self, voice: str, text: str, ids: list[int], prosody: Prosody) -> SentenceAudio:
        pipeline = self.pipelines.get(voice)
        if pipeline is None:
            raise EngineError(f"voice {voice!r} is not loaded")
        emotion = prosody.emotion
        if emotion not in VOICE_EMOTIONS[voice]:
            _LOGGER.warning("sambert: voice %s has no emotion %r; using neutral", voice, emotion)
            emotion = "neutral"
        ssml = to_ssml(text, emotion, prosody.intensity)
        started = time.perf_counter()
        with self._locks[voice]:
            try:
                result = pipeline(input=ssml, voice=voice)
            except Exception as exc:  # the pipeline's own errors carry no common base
                raise EngineError(f"Sambert pipeline failed for voice {voice}: {exc}") from exc
        between = time.perf_counter()
        if not isinstance(result, dict) or not isinstance(result.get(OUTPUT_WAV), bytes):
            raise EngineError(f"the Sambert pipeline returned no {OUTPUT_WAV!r} bytes")
        audio = decode_wav(result[OUTPUT_WAV])
        # The acoustic model and vocoder run inside one pipeline call: all of it is
        # reported as acoustic time; the vocoder share is the WAV decode.
        return SentenceAudio(audio=audio, acoustic_s=between - started,
                             vocoder_s=time.perf_counter() - between)

    def stream(self, voice: str, text: str, ids: list[int], prosody: Prosody, *,
               whole: bool = False) -> Iterator[AudioChunk]:
        """The pipeline makes a sentence at once: one chunk per sentence, with no
        durations (the pipeline does not report them)."""
        said = self.synthesize(voice, text, ids, prosody)
        yield AudioChunk(said.audio, True, said.acoustic_s, said.vocoder_s)
