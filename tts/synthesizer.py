"""Text -> float audio: front end, engine on the inference pool, joined sentences.

Knows nothing about HTTP or caching; `tts.service` adds those around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tts.audio import join
from tts.emotions import Prosody
from tts.engines.base import Engine, SentenceAudio
from tts.frontend import Frontend, Sentence
from tts.pool import InferencePool

SentenceRenderer = Callable[[Sentence], np.ndarray]


@dataclass
class Synthesizer:
    """One per worker, built at start-up around the warmed engine."""

    frontend: Frontend
    engine: Engine
    pool: InferencePool
    timeout_s: float
    on_sentence: Callable[[SentenceAudio], None] | None = None  # metrics hook

    def plan(self, text: str, *, first_clause: bool = False) -> list[Sentence]:
        """The sentences the engine will be asked to say (raises NothingToSay)."""
        if first_clause:
            return self.frontend.first_clause_split(text)
        return self.frontend.analyze(text)

    def sentence(self, voice: str, sentence: Sentence, prosody: Prosody) -> np.ndarray:
        """Synthesize one sentence on an inference thread; float audio at the engine's rate."""
        result = self.pool.run(
            lambda: self.engine.synthesize(voice, sentence.text, sentence.ids, prosody),
            self.timeout_s,
        )
        if self.on_sentence is not None:
            self.on_sentence(result)
        return result.audio

    def render(self, sentences: list[Sentence], one: SentenceRenderer) -> np.ndarray:
        """Say every sentence with `one` and join them with their pauses."""
        pieces = [one(sentence) for sentence in sentences]
        return join(pieces, [s.pause_s for s in sentences], self.engine.sample_rate)
