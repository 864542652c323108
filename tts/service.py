"""The synthesis service behind the HTTP routes: cache in front, synthesizer behind.

A request is planned by the front end first, so the cache key covers what will
actually be said (normalized text and its phones) rather than the raw input:
"2026年" and "二零二六年" share an entry exactly when they sound the same.
Long texts are also cached sentence by sentence, so a new paragraph that
repeats old sentences only synthesizes what is new.

Every route consumes one iterator of audio blocks (`_utterance`): whole responses
join it, streams encode it block by block.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

from cache import HIT_MEMORY, AudioCache, CachedAudio
from cache.keys import request_key
from tts.audio import FORMATS, encode, resample
from tts.audio.join import silence
from tts.audio.stream import StreamEncoder
from tts.emotions import Prosody, prosody_for
from tts.frontend import Sentence
from tts.frontend.alignment import Aligner, SpokenPass
from tts.recent import Recent
from tts.synthesizer import PLAN_CACHE_SIZE, Said, Synthesizer
from tts.timeline import PassTime, from_json, syllable_spans, to_json, track

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
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
    timing: bytes = b""  # the timeline stored with the audio (tts.timeline)


@dataclass(frozen=True)
class Finished:
    """The last item of a timed stream: how long the audio it sent lasts."""

    duration_s: float


# A streamed response's items: encoded audio; with timestamps also the entries of the
# caller's text each pass is about to say (sent before its audio), then Finished.
StreamItem = bytes | list[dict[str, object]] | Finished


@dataclass(frozen=True)
class SpeechStream(Generic[T]):
    """A streamed response: known up front are the cache tier and content type; the
    chunks are encoded audio (or, with timestamps, StreamItems in the order to send)."""

    cache: str
    content_type: str
    chunks: Iterator[T]
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

    def speak(self, request: SpeechRequest, *, timed: bool = False) -> Speech:
        """The whole audio; `timed` makes sure its timeline comes with it (entries stored
        before timelines were kept are made again)."""
        planned = self.planned(request)
        entry, tier = self.cache.get_or_create(
            planned.key, lambda: self._create(request, self.synthesizer.plan(request.text)))
        if timed and not entry.meta:
            entry, tier = self._create(request, self.synthesizer.plan(request.text)), "miss"
            self.cache.put(planned.key, entry)
        return Speech(entry.data, entry.duration_s, tier, FORMATS[request.fmt].content_type,
                      planned.sentences, entry.meta)

    def aligner(self, request: SpeechRequest) -> Aligner:
        """A fresh aligner of this request's passes to its own text."""
        return Aligner(request.text, self.synthesizer.frontend.normalize(request.text))

    def alignment(self, request: SpeechRequest, timing: bytes) -> Aligner:
        """Every entry of the request's text with its time, from a stored timeline."""
        aligner = self.aligner(request)
        sentences = self.synthesizer.plan(request.text)
        for sentence, spoken in zip(sentences, from_json(timing), strict=True):
            aligner.add(SpokenPass(sentence.units, sentence.pinyin, spoken.start, spoken.end,
                                   spoken.syllables))
        return aligner

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

    def stream(self, request: SpeechRequest) -> SpeechStream[bytes]:
        """Audio as it is made: from the cache if present, else chunk by chunk.

        A finished stream is stored in the cache under the same key `speak` uses,
        so either route serves what the other made.
        """
        timed = self.stream_timed(request, timed=False)
        chunks = (item for item in timed.chunks if isinstance(item, bytes))
        return SpeechStream(timed.cache, timed.content_type, chunks, timed.duration_s)

    def stream_timed(self, request: SpeechRequest, *,
                     timed: bool = True) -> SpeechStream[StreamItem]:
        """Like `stream`, with the entries of each pass sent before its audio."""
        content_type = FORMATS[request.fmt].content_type
        key = self.planned(request, stream=True).key
        found = self.cache.get(key)
        if found is not None and (found[0].meta or not timed):
            entry, tier = found
            return SpeechStream(tier, content_type, self._replay(request, entry, timed),
                               entry.duration_s)
        sentences = self.synthesizer.plan(request.text)
        aligner = self.aligner(request) if timed else None
        return SpeechStream("miss", content_type,
                           self._stream_new(request, sentences, key, aligner), None)

    def _replay(self, request: SpeechRequest, entry: CachedAudio,
                timed: bool) -> Iterator[StreamItem]:
        if timed:
            aligner = self.alignment(request, entry.meta)
            yield [aligner.entry(unit) for unit in aligner.units]
        for i in range(0, len(entry.data), STREAM_BLOCK_BYTES):
            yield entry.data[i:i + STREAM_BLOCK_BYTES]
        if timed:
            yield Finished(entry.duration_s)

    def _stream_new(self, request: SpeechRequest, sentences: list[Sentence], key: str,
                    aligner: Aligner | None) -> Iterator[StreamItem]:
        rate = self.engine.sample_rate
        encoder = StreamEncoder(request.fmt, rate, request.sample_rate)
        timeline: list[PassTime] = []
        at = 0  # samples said so far, at the engine's rate
        # One slot and one deadline for the whole stream, taken before its first byte.
        with self.synthesizer.pool.reserve(self.synthesizer.timeout_s, stream=True):
            yield encoder.start()
            blocks = track(self._utterance(request, sentences, whole=False), sentences, rate,
                           timeline)
            for block in blocks:
                if aligner is not None and block.durations_s is not None:
                    said = sentences[block.index]
                    spans = syllable_spans(said.phones, block.durations_s, at / rate)
                    units = aligner.add(SpokenPass(said.units, said.pinyin, at / rate,
                                                   at / rate, tuple(spans)))
                    yield [aligner.entry(unit) for unit in units]
                at += len(block.audio)
                data = encoder.encode(block.audio)
                if data:
                    yield data
        yield encoder.finish()
        sent = encoder.audio()
        duration_s = len(sent) / request.sample_rate
        self.cache.put(key, CachedAudio(encode(sent, request.sample_rate, request.fmt),
                                        duration_s, to_json(timeline)))
        if aligner is not None:
            yield Finished(duration_s)

    def planned(self, request: SpeechRequest, *, stream: bool = False) -> Planned:
        """The cache key and sentence count of a whole request, planning its text only the
        first time: a request seen before (a cache hit, or a miss whose audio left the
        cache) is never planned again, so it is not refused under overload before its
        cache lookup. The service keeps one engine for life: a request's key never changes."""
        planned = self._planned.get(request)
        if planned is None:
            # Never planned (just looked up): refused now if the pool is full.
            self.synthesizer.pool.refuse_if_saturated(stream=stream)
            sentences = self.synthesizer.plan(request.text)
            planned = Planned(self.key_for(request, sentences), len(sentences))
            self._planned.put(request, planned)
        return planned

    def refuse_if_unplanned(self, request: SpeechRequest) -> None:
        """Under overload, raise Overloaded for a request never planned before: it would
        be refused anyway, so it gets no front-end CPU (requests planned before still
        reach the cache, whose hits are served under any load)."""
        if self._planned.get(request) is None:
            self.synthesizer.pool.refuse_if_saturated()

    def key_for(self, request: SpeechRequest, sentences: list[Sentence], *,
                part: bool = False) -> str:
        """The cache key of a whole request, or (`part`) of one sentence of a long text:
        the two hold different meta, so they never share an entry."""
        said: list[object] = [[s.text, s.phones, s.pause_s, *s.overrides()] for s in sentences]
        spoken = json.dumps(["part", *said] if part else said, ensure_ascii=False)
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
                       pitch=preset.pitch * sentence.pitch, gain=preset.gain * sentence.volume,
                       tight_start=sentence.tight_start, tight_end=sentence.tight_end)

    def _create(self, request: SpeechRequest, sentences: list[Sentence]) -> CachedAudio:
        """Synthesize, join and encode under one reservation: a request is refused
        before its first sentence, never half-way, and has one deadline in total."""
        rate = self.engine.sample_rate
        timeline: list[PassTime] = []
        with self.synthesizer.pool.reserve(self.synthesizer.timeout_s):
            blocks = [block.audio for block in track(
                self._utterance(request, sentences, whole=True), sentences, rate, timeline)]

            def finish() -> CachedAudio:  # joining and encoding long audio is real work too
                audio = resample(np.concatenate(blocks), rate, request.sample_rate)
                return CachedAudio(encode(audio, request.sample_rate, request.fmt),
                                   len(audio) / request.sample_rate, to_json(timeline))

            return self.synthesizer.pool.run(finish, self.synthesizer.timeout_s)

    def _utterance(self, request: SpeechRequest, sentences: list[Sentence], *,
                   whole: bool) -> Iterator[Said]:
        """The request's audio, block by block: each sentence (from the sentence cache
        when the text has several), then the pause after it."""
        rate = self.engine.sample_rate
        for index, sentence in enumerate(sentences):
            if len(sentences) == 1:
                yield from self.synthesizer.say(request.voice, sentence, index,
                                                self.prosody(request, sentence), whole=whole)
            else:
                yield from self._remembered_sentence(request, sentence, index, whole=whole)
            if sentence.pause_s > 0:
                yield Said(silence(sentence.pause_s, rate), index, speech=False)

    def _remembered_sentence(self, request: SpeechRequest, sentence: Sentence, index: int, *,
                             whole: bool) -> Iterator[Said]:
        """One sentence of a long text through the sentence cache: a sentence said before,
        in any text, is not synthesized again."""
        rate = self.engine.sample_rate
        piece = replace(request, fmt=SENTENCE_FORMAT, sample_rate=rate)
        key = self.key_for(piece, [replace(sentence, pause_s=0.0)], part=True)

        def say() -> Iterator[Said]:
            return self.synthesizer.say(request.voice, sentence, index,
                                        self.prosody(request, sentence), whole=whole)

        if whole:  # nobody waits for a first chunk: coalesce with identical sentences
            entry, _ = self.cache.get_or_create(key, lambda: _sentence_entry(list(say()), rate))
            yield from _sentence_blocks(entry, sentence, index, rate)
            return
        found = self.cache.get(key)
        if found is not None:
            yield from _sentence_blocks(found[0], sentence, index, rate)
            return
        blocks: list[Said] = []
        for block in say():
            blocks.append(block)
            yield block
        self.cache.put(key, _sentence_entry(blocks, rate))


def _sentence_entry(blocks: list[Said], sample_rate: int) -> CachedAudio:
    """One sentence's blocks as a cache entry: native-rate int16 and its timing."""
    audio = np.concatenate([b.audio for b in blocks])
    timed = next((b.durations_s for b in blocks if b.durations_s is not None), None)
    meta = b"" if timed is None else json.dumps({"durations_s": timed}).encode()
    return CachedAudio(encode(audio, sample_rate, SENTENCE_FORMAT), len(audio) / sample_rate,
                       meta)


def _sentence_blocks(entry: CachedAudio, sentence: Sentence, index: int,
                     sample_rate: int) -> Iterator[Said]:
    """A cached sentence as the blocks `Synthesizer.say` made: its lead silence, then
    its speech with the timing it was stored with."""
    audio = np.frombuffer(entry.data, dtype="<i2").astype(np.float32) / 32767.0
    lead = round(sentence.lead_s * sample_rate)
    if lead:
        yield Said(audio[:lead], index, speech=False)
    durations = tuple(json.loads(entry.meta)["durations_s"]) if entry.meta else None
    yield Said(audio[lead:], index, durations)
