"""Text -> float audio: the plan, then each sentence said on the inference pool.

Knows nothing about HTTP or caching; `tts.service` adds those around it. There is
one way to say a sentence, `say`, yielding its audio block by block: whole
responses, streams, batch items and the command line all consume it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

from tts.audio.join import fade, silence, soft_limit
from tts.emotions import Prosody
from tts.engines.base import AudioChunk, Engine, SentenceAudio
from tts.frontend import Frontend, Sentence
from tts.pool import InferencePool

PLAN_CACHE_SIZE = 4096  # plans of recent texts, per worker
PLAN_IN_PLACE_CHARS = 200  # longer texts are planned on an inference thread


@dataclass(frozen=True)
class Said:
    """One block of an utterance, in order: float audio at the engine's rate.

    `index` is the sentence of the plan the block belongs to. The first block of a
    sentence's speech carries `durations_s`, how long each of its symbol ids is
    spoken from that block's first sample on (None when the engine cannot tell);
    lead silences and pauses are blocks of their own (`speech` False).
    """

    audio: np.ndarray
    index: int
    durations_s: tuple[float, ...] | None = None
    speech: bool = True


@dataclass
class Synthesizer:
    """One per worker, built at start-up around the warmed engine."""

    frontend: Frontend
    engine: Engine
    pool: InferencePool
    timeout_s: float
    on_sentence: Callable[[SentenceAudio], None] | None = None  # metrics hook

    def __post_init__(self) -> None:
        # Repeated texts (the ones the audio cache serves) skip the front end too.
        self._plans = lru_cache(maxsize=PLAN_CACHE_SIZE)(self._plan_uncached)

    def plan(self, text: str) -> list[Sentence]:
        """The acoustic passes the engine will be asked to say (raises NothingToSay).

        The first sentence is cut at its first clause on every route, streamed or
        not, so a text sounds the same and shares one cache entry either way, and a
        stream's first audio needs only the first clause's acoustic pass.
        """
        return list(self._plans(text))

    def _plan_uncached(self, text: str) -> tuple[Sentence, ...]:
        if len(text) <= PLAN_IN_PLACE_CHARS:
            return tuple(self.frontend.first_clause_split(text))
        # A long text costs the front end tens to hundreds of milliseconds of Python:
        # on an inference thread the event loop keeps serving everyone else meanwhile.
        return tuple(self.pool.run(lambda: self.frontend.first_clause_split(text),
                                   self.timeout_s))

    def say(self, voice: str, sentence: Sentence, index: int, prosody: Prosody, *,
            whole: bool) -> Iterator[Said]:
        """One sentence's lead silence and speech (not the pause after it), each engine
        step on an inference thread. `whole` vocodes the sentence at once, cheapest when
        nobody waits for its first chunk; otherwise chunks leave as they are made.

        Every step here works on the sentence's own edges, so both ways give the same
        samples. Closing the generator (a client that went away) stops before the
        next chunk.
        """
        rate = self.engine.sample_rate
        if sentence.lead_s > 0:
            yield Said(silence(sentence.lead_s, rate), index, speech=False)
        chunks = self.engine.stream(voice, sentence.text, sentence.ids, prosody, whole=whole)
        step = partial(next, chunks, None)
        first = True
        parts: list[np.ndarray] = []
        acoustic_s = vocoder_s = 0.0
        item: AudioChunk | None
        while (item := self.pool.run(step, self.timeout_s)) is not None:
            parts.append(item.audio)
            acoustic_s += item.acoustic_s
            vocoder_s += item.vocoder_s
            audio = fade(with_gain(item.audio, prosody.gain), rate, start=first, end=item.last)
            if item.last:
                # Nothing is computed after the last chunk (an engine only settles its
                # bookkeeping): finish the generator here rather than queue for a thread.
                next(chunks, None)
            yield Said(soft_limit(audio), index, item.durations_s if first else None)
            first = False
            if item.last:
                break
        if self.on_sentence is not None and parts:
            audio = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self.on_sentence(SentenceAudio(audio, acoustic_s, vocoder_s))


def with_gain(audio: np.ndarray, gain: float) -> np.ndarray:
    """One sentence's output gain (SSML volume, emotion presets); the soft limiter
    keeps a loud result from clipping."""
    if gain == 1.0:
        return audio
    return (audio * np.float32(gain)).astype(np.float32, copy=False)
