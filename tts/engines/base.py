"""The interface every synthesis engine offers to the service.

An engine turns one front-end sentence into float audio. It is created once per
worker at start-up (never per request), warmed up before the worker reports
ready, and called from several inference threads at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tts.emotions import Prosody


@dataclass(frozen=True)
class VoiceInfo:
    """What `GET /api/voices` tells callers about one voice."""

    name: str
    language: str
    sample_rate: int
    engine: str
    emotions: tuple[str, ...]


@dataclass(frozen=True)
class SentenceAudio:
    """Float audio in [-1, 1] at the engine's sample rate, with where the time went."""

    audio: np.ndarray
    acoustic_s: float
    vocoder_s: float


@dataclass(frozen=True)
class AudioChunk:
    """A run of one sentence's audio, in order. The first chunk of a sentence carries
    how long each input symbol is spoken (`durations_s`, one per id; None from engines
    that cannot tell), which is what timestamps are made of."""

    audio: np.ndarray
    last: bool  # the sentence's final chunk
    acoustic_s: float = 0.0  # compute spent on this chunk, for metrics
    vocoder_s: float = 0.0
    durations_s: tuple[float, ...] | None = None


class EngineError(RuntimeError):
    """Synthesis failed inside the engine (not the caller's fault)."""


class Engine(Protocol):
    name: str
    device: str  # where synthesis really runs: "cpu" or "cuda"

    @property
    def sample_rate(self) -> int: ...

    @property
    def model_hash(self) -> str:
        """Changes whenever the model files change; part of every cache key."""
        ...

    def voices(self) -> list[VoiceInfo]: ...

    def symbol_tables(self) -> tuple[dict[str, int], dict[str, list[str]]]:
        """(symbol -> id, toneless pinyin -> [initial, final]) for the front end."""
        ...

    def warm_up(self) -> float:
        """Run a few syntheses so the first caller is not slow; returns seconds spent."""
        ...

    def synthesize(
        self, voice: str, text: str, ids: list[int], prosody: Prosody
    ) -> SentenceAudio:
        """Synthesize one sentence. `text` is for text-driven engines, `ids` for id-driven ones."""
        ...

    def stream(self, voice: str, text: str, ids: list[int], prosody: Prosody, *,
               whole: bool = False) -> Iterator[AudioChunk]:
        """Yield one sentence's audio in chunks, each computed on demand (so a caller can
        send one while the next is made); `whole` asks for a single chunk, cheapest when
        nobody is waiting for the first one."""
        ...
