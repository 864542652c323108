"""The synthesis service behind the HTTP routes: cache in front, synthesizer behind.

A request is planned by the front end first, so the cache key covers what will
actually be said (normalized text and its phones) rather than the raw input:
"2026年" and "二零二六年" share an entry exactly when they sound the same.
Long texts are also cached sentence by sentence, so a new paragraph that
repeats old sentences only synthesizes what is new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from cache import HIT_MEMORY, AudioCache, CachedAudio
from cache.keys import request_key
from tts.audio import FORMATS, encode, join, resample
from tts.audio.stream import StreamEncoder
from tts.emotions import Prosody, prosody_for
from tts.frontend import Sentence
from tts.recent import Recent
from tts.synthesizer import PLAN_CACHE_SIZE, Synthesizer

_LOGGER = logging.getLogger(__name__)

SENTENCE_FORMAT = "pcm"  # how single sentences of a long text are cached: native-rate int16


@dataclass(frozen=True)
class SpeechRequest:
    """A validated request; every field resolved (no "use the default" left)."""

    text: str
    voice: str
    emotion: str = "neutral"
    speed: float = 1.0
    fmt: str = "wav"
    sample_rate: int = 24000
    intensity: float = 1.0


@dataclass(frozen=True)
class Speech:
    data: bytes
    duration_s: float
    cache: str  # "hit-memory" | "hit-redis" | "miss"
    content_type: str
    sentences: int


@dataclass(frozen=True)
class SpeechStream:
    """A streamed response: known up front are the cache tier and content type."""

    cache: str
    content_type: str
    chunks: Iterator[bytes]
    duration_s: float | None  # known only when served from the cache


@dataclass(frozen=True)
class Planned:
    """What planning a request decided, kept for its repeats."""

    key: str
    sentences: int


STREAM_BLOCK_BYTES = 16384  # how a cached entry is cut into chunks when streamed


class SpeechService:
    """One per worker, created at start-up after the engine is warm."""

    def __init__(self, synthesizer: Synthesizer, cache: AudioCache) -> None:
        self.synthesizer = synthesizer
        self.cache = cache
        self.engine = synthesizer.engine
        # A repeated request (a cache hit) must not re-serialize its plan to find its key.
        self._planned: Recent[SpeechRequest, Planned] = Recent(PLAN_CACHE_SIZE)

    def speak(self, request: SpeechRequest) -> Speech:
        planned = self.planned(request)
        entry, tier = self.cache.get_or_create(
            planned.key, lambda: self._create(request, self.synthesizer.plan(request.text)))
        return Speech(entry.data, entry.duration_s, tier, FORMATS[request.fmt].content_type,
                      planned.sentences)

    def remembered(self, request: SpeechRequest) -> Speech | None:
        """What `speak` returns on a tier-1 hit, if this request was planned before and its
        audio is in the memory tier; else None, having done no work at all (no front end,
        no Redis, no synthesis), so the caller can take the full path."""
        planned = self._planned.get(request)
        if planned is None:
            return None
        entry = self.cache.in_memory(planned.key)
        if entry is None:
            return None
        return Speech(entry.data, entry.duration_s, HIT_MEMORY,
                      FORMATS[request.fmt].content_type, planned.sentences)

    def stream(self, request: SpeechRequest) -> SpeechStream:
        """Audio as it is made: from the cache if present, else chunk by chunk.

        A finished stream is stored in the cache under the same key `speak` uses,
        so either route serves what the other made.
        """
        content_type = FORMATS[request.fmt].content_type
        key = self.planned(request).key
        found = self.cache.get(key)
        if found is not None:
            entry, tier = found
            blocks = (entry.data[i:i + STREAM_BLOCK_BYTES]
                      for i in range(0, len(entry.data), STREAM_BLOCK_BYTES))
            return SpeechStream(tier, content_type, blocks, entry.duration_s)
        sentences = self.synthesizer.plan(request.text)
        return SpeechStream("miss", content_type, self._stream_new(request, sentences, key), None)

    def _stream_new(self, request: SpeechRequest, sentences: list[Sentence],
                    key: str) -> Iterator[bytes]:
        encoder = StreamEncoder(request.fmt, self.engine.sample_rate, request.sample_rate)
        # One slot and one deadline for the whole stream, taken before its first byte.
        with self.synthesizer.pool.reserve(self.synthesizer.timeout_s):
            yield encoder.start()
            for audio in self.synthesizer.stream(request.voice, sentences,
                                                 lambda s: self.prosody(request, s)):
                data = encoder.encode(audio)
                if data:
                    yield data
        yield encoder.finish()
        sent = encoder.audio()
        self.cache.put(key, CachedAudio(encode(sent, request.sample_rate, request.fmt),
                                        len(sent) / request.sample_rate))

    def planned(self, request: SpeechRequest) -> Planned:
        """The cache key and sentence count of a whole request, planning its text only the
        first time: a request seen before (a cache hit, or a miss whose audio left the
        cache) is never planned again, so it is not refused under overload before its
        cache lookup. The service keeps one engine for life: a request's key never changes."""
        planned = self._planned.get(request)
        if planned is None:
            sentences = self.synthesizer.plan(request.text)
            planned = Planned(self.key_for(request, sentences), len(sentences))
            self._planned.put(request, planned)
        return planned

    def key_for(self, request: SpeechRequest, sentences: list[Sentence]) -> str:
        spoken = json.dumps([[s.text, s.phones, s.pause_s, *s.overrides()] for s in sentences],
                            ensure_ascii=False)
        return request_key(
            text=spoken,
            voice=request.voice,
            emotion=f"{request.emotion}:{request.intensity:g}",
            speed=request.speed,
            fmt=request.fmt,
            sample_rate=request.sample_rate,
            engine=self.engine.name,
            model_hash=self.engine.model_hash,
        )

    def prosody(self, request: SpeechRequest, sentence: Sentence | None = None) -> Prosody:
        """The request's emotion and speed, with one sentence's SSML settings on top."""
        if sentence is None:
            preset = prosody_for(request.emotion, request.intensity)
            return replace(preset, speed=preset.speed * request.speed)
        preset = prosody_for(sentence.emotion or request.emotion,
                             request.intensity if sentence.intensity is None
                             else sentence.intensity)
        return replace(preset, speed=preset.speed * request.speed * sentence.rate,
                       pitch=preset.pitch * sentence.pitch, gain=preset.gain * sentence.volume)

    def _create(self, request: SpeechRequest, sentences: list[Sentence]) -> CachedAudio:
        """Synthesize, join and encode under one reservation: a request is refused
        before its first sentence, never half-way, and has one deadline in total."""
        with self.synthesizer.pool.reserve(self.synthesizer.timeout_s):
            return self._synthesize(request, sentences)

    def _synthesize(self, request: SpeechRequest, sentences: list[Sentence]) -> CachedAudio:
        def direct(sentence: Sentence) -> np.ndarray:
            return self.synthesizer.sentence(request.voice, sentence,
                                             self.prosody(request, sentence))

        def cached(sentence: Sentence) -> np.ndarray:
            piece = replace(request, fmt=SENTENCE_FORMAT, sample_rate=self.engine.sample_rate)
            key = self.key_for(piece, [replace(sentence, pause_s=0.0)])
            entry, _ = self.cache.get_or_create(key, lambda: _pcm_entry(
                direct(sentence), self.engine.sample_rate))
            return np.frombuffer(entry.data, dtype="<i2").astype(np.float32) / 32767.0

        pieces = [(cached if len(sentences) > 1 else direct)(s) for s in sentences]

        def finish() -> CachedAudio:  # joining and encoding long audio is real work too
            audio = join(pieces, [s.pause_s for s in sentences], self.engine.sample_rate)
            audio = resample(audio, self.engine.sample_rate, request.sample_rate)
            return CachedAudio(encode(audio, request.sample_rate, request.fmt),
                               len(audio) / request.sample_rate)

        return self.synthesizer.pool.run(finish, self.synthesizer.timeout_s)


def _pcm_entry(audio: np.ndarray, sample_rate: int) -> CachedAudio:
    return CachedAudio(encode(audio, sample_rate, SENTENCE_FORMAT), len(audio) / sample_rate)
