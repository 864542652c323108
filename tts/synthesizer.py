"""Text -> float audio: front end, engine on the inference pool, joined sentences.

Knows nothing about HTTP or caching; `tts.service` adds those around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

from tts.audio import join
from tts.audio.join import fade, silence, soft_limit
from tts.emotions import Prosody
from tts.engines.base import Engine, SentenceAudio
from tts.frontend import Frontend, Sentence
from tts.pool import InferencePool

SentenceRenderer = Callable[[Sentence], np.ndarray]
PLAN_CACHE_SIZE = 4096  # plans of recent texts, per worker
PLAN_IN_PLACE_CHARS = 200  # longer texts are planned on an inference thread


@dataclass
class Synthesizer:
    """One per worker, built at start-up around the warmed engine."""

    frontend: Frontend
    engine: Engine
    pool: InferencePool
    timeout_s: float
    on_sentence: Callable[[SentenceAudio], None] | None = None  # metrics hook

    def __post_init__(self) -> None:
        # Repeated texts (the ones the audio cache serves) skip the front end too:
        # their cache key is computed from the plan, so a hit must not pay for it.
        self._plans = lru_cache(maxsize=PLAN_CACHE_SIZE)(self._plan_uncached)

    def plan(self, text: str) -> list[Sentence]:
        """The sentences the engine will be asked to say (raises NothingToSay).

        The first sentence is cut at its first clause on every route, streamed or
        not, so a text sounds the same and shares one cache entry either way, and a
        stream's first audio needs only the first clause's acoustic pass.
        """
        return list(self._plans(text))

    def _plan_uncached(self, text: str) -> tuple[Sentence, ...]:
        # Under overload, refuse before spending the front end's CPU on a request that
        # would be refused anyway (texts planned before still pass: cache hits).
        self.pool.refuse_if_saturated()
        if len(text) <= PLAN_IN_PLACE_CHARS:
            return tuple(self.frontend.first_clause_split(text))
        # A long text costs the front end tens to hundreds of milliseconds of Python:
        # on an inference thread the event loop keeps serving everyone else meanwhile.
        return tuple(self.pool.run(lambda: self.frontend.first_clause_split(text),
                                   self.timeout_s))

    def sentence(self, voice: str, sentence: Sentence, prosody: Prosody) -> np.ndarray:
        """Synthesize one sentence on an inference thread; float audio at the engine's rate
        (with its gain applied and its lead silence, if any, in front)."""
        result = self.pool.run(
            lambda: self.engine.synthesize(voice, sentence.text, sentence.ids, prosody),
            self.timeout_s,
        )
        if self.on_sentence is not None:
            self.on_sentence(result)
        audio = with_gain(result.audio, prosody.gain)
        if sentence.lead_s > 0:
            audio = np.concatenate([silence(sentence.lead_s, self.engine.sample_rate), audio])
        return audio

    def render(self, sentences: list[Sentence], one: SentenceRenderer) -> np.ndarray:
        """Say every sentence with `one` and join them with their pauses."""
        pieces = [one(sentence) for sentence in sentences]
        return join(pieces, [s.pause_s for s in sentences], self.engine.sample_rate)

    def stream(self, voice: str, sentences: list[Sentence],
               prosody: Callable[[Sentence], Prosody]) -> Iterator[np.ndarray]:
        """The same samples as `render`, chunk by chunk, each computed on an inference thread.

        Closing the generator (a client that went away) stops before the next chunk.
        """
        rate = self.engine.sample_rate
        for sentence in sentences:
            said = prosody(sentence)
            if sentence.lead_s > 0:
                yield silence(sentence.lead_s, rate)
            chunks = self.engine.stream(voice, sentence.text, sentence.ids, said)
            step = partial(next, chunks, None)
            first = True
            while (item := self.pool.run(step, self.timeout_s)) is not None:
                audio, last = item
                yield soft_limit(fade(with_gain(audio, said.gain), rate, start=first, end=last))
                first = False
            if sentence.pause_s > 0:
                yield silence(sentence.pause_s, rate)


def with_gain(audio: np.ndarray, gain: float) -> np.ndarray:
    """One sentence's output gain (SSML volume, emotion presets); the join's soft
    limiter keeps a loud result from clipping."""
    if gain == 1.0:
        return audio
    return (audio * np.float32(gain)).astype(np.float32, copy=False)
