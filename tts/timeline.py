"""When each syllable of an utterance is spoken, from the engine's per-symbol durations.

The acoustic model decides how long every symbol lasts before any audio exists, so
the timing of the output is known, not guessed from the audio: a syllable runs from
its first phone to the next syllable's, a clause mark inside a pass is a pause the
voice makes, and a pass's closing silence belongs to its last syllable (so the last
syllable ends where the audio does). Pauses between passes
and SSML breaks are gaps between syllables. An engine that reports no durations
(Sambert) gets its syllables spread evenly over the pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tts.frontend import Sentence
from tts.synthesizer import Said

_SILENT = frozenset({"sil", "eos", "pad"})
_PAUSES = frozenset({"#3", "#4"})  # clause marks: the voice is silent there


@dataclass(frozen=True)
class PassTime:
    """One acoustic pass in the output: where its audio begins (lead silence included),
    where its speech ends (the pause after it excluded), and each syllable's span."""

    start: float
    end: float
    syllables: tuple[tuple[float, float], ...]


def syllable_spans(phones: list[str], durations_s: Iterable[float],
                   offset: float) -> list[tuple[float, float]]:
    """Spans of the syllables in a pass's phone sequence, from `offset` seconds on.

    A syllable runs from its first phone to the next syllable's first phone: the
    word and phrase marks between them (#0-#2) are transitions the voice fills with
    sound. A clause mark (#3 and up) is a pause, and the span ends where it begins.
    """
    spans: list[tuple[float, float]] = []
    at = offset
    start: float | None = None  # of the syllable being said
    after_break = True
    for phone, seconds in zip(phones, durations_s, strict=True):
        if phone in _SILENT or phone in _PAUSES:
            if start is not None:
                spans.append((start, at))
                start = None
            after_break = True
        elif phone.startswith("#"):
            after_break = True
        elif after_break:  # the first phone of a syllable
            if start is not None:
                spans.append((start, at))
            start, after_break = at, False
        at += seconds
    if start is not None:
        spans.append((start, at))
    if spans:  # the closing silence belongs to the last syllable
        spans[-1] = (spans[-1][0], at)
    return spans


def even_spans(count: int, start: float, end: float) -> list[tuple[float, float]]:
    """`count` equal spans over [start, end]: the estimate when durations are unknown."""
    step = (end - start) / count if count else 0.0
    return [(start + k * step, start + (k + 1) * step) for k in range(count)]


def track(blocks: Iterable[Said], sentences: list[Sentence], sample_rate: int,
          timeline: list[PassTime]) -> Iterator[Said]:
    """Pass blocks through unchanged while appending each pass's timing to `timeline`
    once the pass is over."""
    at = 0  # samples so far
    current = -1
    pass_start = speech_start = speech_end = 0
    durations: tuple[float, ...] | None = None
    for block in blocks:
        if block.index != current:
            if current >= 0:
                timeline.append(_pass_time(sentences[current], pass_start, speech_start,
                                           speech_end, durations, sample_rate))
            current, durations = block.index, None
            pass_start = speech_start = speech_end = at
        if block.speech and speech_end == speech_start:
            speech_start = at
        if block.durations_s is not None:
            durations = block.durations_s
        at += len(block.audio)
        if block.speech:
            speech_end = at
        yield block
    if current >= 0:
        timeline.append(_pass_time(sentences[current], pass_start, speech_start, speech_end,
                                   durations, sample_rate))


def _pass_time(sentence: Sentence, pass_start: int, speech_start: int, speech_end: int,
               durations: tuple[float, ...] | None, rate: int) -> PassTime:
    start, end = speech_start / rate, speech_end / rate
    if durations is not None and len(durations) == len(sentence.phones):
        spans = syllable_spans(sentence.phones, durations, start)
    else:
        spans = even_spans(len(sentence.pinyin), start, end)
    return PassTime(pass_start / rate, end, tuple(spans))


def to_json(timeline: list[PassTime]) -> bytes:
    """The timeline as stored beside cached audio (milliseconds are plenty)."""
    return json.dumps([[round(p.start, 4), round(p.end, 4),
                        [[round(a, 4), round(b, 4)] for a, b in p.syllables]]
                       for p in timeline], separators=(",", ":")).encode()


def from_json(raw: bytes) -> list[PassTime]:
    return [PassTime(start, end, tuple((a, b) for a, b in spans))
            for start, end, spans in json.loads(raw)]
