"""Which part of the caller's own text each spoken unit came from, and when it is said.

Normalization rewrites text ("2026年" is said 二零二六年, "www.example.com" is said
with 点 for the dots), so the planned units are found in the normalized text and
mapped back through a character alignment of the caller's text with it: untouched
characters map one to one, a rewritten stretch maps as a whole. Units that came
from one rewritten stretch, or from one run of Latin letters, digits and symbols
in the caller's text (an URL, a version, a phone number), become one entry, so a
caller gets times for what they wrote, not for what the normalizer made of it.
SSML markup is blanked out before aligning: offsets point into the text content
of the caller's SSML string, and markup has no entries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .normalize import is_han
from .ssml import is_ssml

_MARKUP = re.compile(r"<[^>]*>")
# Characters a rewritten number is read together with ("2026年" is one entry).
_NUMBER_SUFFIXES = frozenset("年月日号时分秒")
# How far a rewritten stretch may reach, in characters of either string ("3,415.68"
# becomes 三千四百一十五点六八): bounds the search after every rewrite.
_RESYNC_WINDOW = 48
# Not said, so never at the edge of an entry.
_EDGES = frozenset("\0 \t\n\r\u3000，。！？；：、,.!?;:\"'“”‘’（）()《》〈〉【】[]{}…—")


@dataclass
class TimedUnit:
    """One entry of `alignment` (or of `sentences`): a span of the caller's text."""

    offset: int
    length: int
    start: float
    end: float
    pinyin: list[str] = field(default_factory=list)
    word_start: bool = True  # a cue may begin here


@dataclass(frozen=True)
class SpokenPass:
    """What the aligner needs of one acoustic pass: its units (text, syllable count),
    its pinyin, and the timing of its audio and of each syllable."""

    units: tuple[tuple[str, int, bool], ...]  # (text, syllables, begins a word)
    pinyin: list[str]
    start: float
    end: float
    syllables: tuple[tuple[float, float], ...]


class Aligner:
    """Maps one request's passes to spans of its text, pass by pass, so a stream can
    send each pass's entries before its audio. Built per request."""

    def __init__(self, text: str, normalized: str) -> None:
        # the caller's text with SSML markup blanked out (offsets stay the same)
        self.source = _MARKUP.sub(lambda m: "\0" * len(m[0]), text) if is_ssml(text) else text
        self._normalized = normalized
        self._spans = _char_spans(self.source, normalized)
        self._tokens = _token_ids(self.source)
        self._cursor = 0
        self.units: list[TimedUnit] = []
        self._unit_tokens: list[int] = []
        self.passes: list[TimedUnit] = []
        self.pass_starts: list[int] = []  # index in `units` of each pass's first new entry

    def source_span(self, index: int) -> tuple[int, int]:
        """The span of the caller's text that normalized character `index` came from."""
        return self._spans[index]

    def entry(self, unit: TimedUnit) -> dict[str, object]:
        """A unit as callers get it: its text (without markup), span, times and pinyin."""
        text = self.source[unit.offset:unit.offset + unit.length].replace("\0", "")
        return {"text": text, "offset": unit.offset, "length": unit.length,
                "start": round(unit.start, 3), "end": round(unit.end, 3),
                "pinyin": unit.pinyin}

    def add(self, spoken: SpokenPass) -> list[TimedUnit]:
        """Align the next pass; returns the entries it started (a word continued from
        the pass before extends that pass's last entry instead)."""
        first = len(self.units)
        touched: list[TimedUnit] = []
        k = 0
        for unit_text, count, word_start in spoken.units:
            times = spoken.syllables[k:k + count]
            pinyin = spoken.pinyin[k:k + count]
            k += count
            if times:
                touched.append(self._add_unit(unit_text, times, pinyin, word_start))
        if len(self.units) > first:
            self.pass_starts.append(first)
        mine = self.units[first:] or touched[:1]
        if mine:
            offset = mine[0].offset
            self.passes.append(TimedUnit(offset, mine[-1].offset + mine[-1].length - offset,
                                         spoken.start, spoken.end, list(spoken.pinyin)))
        return self.units[first:]

    def _add_unit(self, unit_text: str, times: tuple[tuple[float, float], ...],
                  pinyin: list[str], word_start: bool) -> TimedUnit:
        found = self._normalized.find(unit_text, self._cursor) if unit_text else -1
        lo = hi = 0
        if found >= 0:
            end = found + len(unit_text)
            lo = min(self._spans[i][0] for i in range(found, end))
            hi = max(self._spans[i][1] for i in range(found, end))
            self._cursor = end
        if hi <= lo and self.units:  # continued from the last pass, or not in the text
            last = self.units[-1]
            last.end = times[-1][1]
            last.pinyin.extend(pinyin)
            return last
        token = self._tokens[lo] if hi > lo else -1
        if self.units and _same_entry(self.units[-1], self._unit_tokens[-1], lo, hi, token,
                                      self.source):
            last = self.units[-1]
            last.length = max(last.offset + last.length, hi) - last.offset
            last.end = times[-1][1]
            last.pinyin.extend(pinyin)
            return last
        unit = TimedUnit(lo, hi - lo, times[0][0], times[-1][1], list(pinyin), word_start)
        self.units.append(unit)
        self._unit_tokens.append(token)
        return unit


def align(text: str, normalized: str,
          passes: list[SpokenPass]) -> tuple[list[TimedUnit], list[TimedUnit]]:
    """(units, passes) as spans of `text` with their times, in spoken order."""
    aligner = Aligner(text, normalized)
    for spoken in passes:
        aligner.add(spoken)
    return aligner.units, aligner.passes


def _same_entry(last: TimedUnit, last_token: int, lo: int, hi: int, token: int,
                source: str) -> bool:
    """Whether a unit spanning source[lo:hi] belongs to the entry before it."""
    last_end = last.offset + last.length
    if lo < last_end:  # both came from one rewritten stretch
        return True
    if token >= 0 and token == last_token:  # one run of letters, digits and symbols
        return True
    # a rewritten number and the unit word read with it
    return (lo == last_end and hi - lo == 1 and source[lo] in _NUMBER_SUFFIXES
            and last_token >= 0)


def _char_spans(source: str, normalized: str) -> list[tuple[int, int]]:
    """For each normalized character, the span of `source` it was made from.

    Normalization rewrites short stretches in place and leaves the rest alone, so a
    walk along both strings suffices: equal characters map one to one, and where
    they differ, the nearest point where both agree again for two characters (or
    both end) closes a rewritten stretch. Linear in practice, whatever the text: a
    general diff is quadratic on repetitive input, and a caller chooses the input.
    """
    spans: list[tuple[int, int]] = [(0, 0)] * len(normalized)
    comparable = "".join(_folded(ch) for ch in source)  # "：" in the source matches ":"
    i = j = 0
    while j < len(normalized):
        if i < len(comparable) and comparable[i] == normalized[j]:
            spans[j] = (i, i + 1)
            i, j = i + 1, j + 1
            continue
        di, dj = _resync(comparable, normalized, i, j)
        span = _trimmed(source, i, i + di)
        for k in range(j, j + dj):
            spans[k] = span
        i, j = i + di, j + dj
    return spans


def _resync(source: str, normalized: str, i: int, j: int) -> tuple[int, int]:
    """Lengths (in source, in normalized) of the rewritten stretch starting at i, j:
    the nearest point, by total length, where the strings agree again (on a tie, the
    one agreeing for longer)."""
    best: tuple[int, int, int] | None = None  # (total length, -agreement, dj)
    end = min(len(source), i + _RESYNC_WINDOW)
    for dj in range(min(len(normalized) - j, _RESYNC_WINDOW) + 1):
        if best is not None and dj > best[0]:
            break
        if j + dj == len(normalized):
            candidate = (len(source) - i + dj, 0, dj)
        else:
            at = source.find(normalized[j + dj], i, end)
            if at < 0:
                continue
            agree = 2 if source[at + 1:at + 2] == normalized[j + dj + 1:j + dj + 2] else 1
            candidate = (at - i + dj, -agree, dj)
        if (candidate[0] or candidate[2]) and (best is None or candidate < best):
            best = candidate
    if best is None:  # nothing agrees nearby: one stretch to the end
        return len(source) - i, len(normalized) - j
    total, _, dj = best
    return total - dj, dj


def _folded(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def _trimmed(source: str, start: int, end: int) -> tuple[int, int]:
    """A rewritten stretch without the markup, spaces and punctuation at its edges
    (they were not said; the words in between were)."""
    while start < end and source[start] in _EDGES:
        start += 1
    while end > start and source[end - 1] in _EDGES:
        end -= 1
    return start, end


def _token_ids(source: str) -> list[int]:
    """For each source character, the id of its run of non-Han, non-space, non-markup
    characters (an URL, a number, a code), or -1."""
    ids = [-1] * (len(source) + 1)
    current = 0
    inside = False
    for i, ch in enumerate(source):
        if ch.isspace() or ch == "\0" or is_han(ch) or not ch.isprintable() \
                or ("\u3000" <= ch <= "\u303f") or ("\uff00" <= ch <= "\uffef"):
            inside = False
            continue
        if not inside:
            current += 1
            inside = True
        ids[i] = current
    return ids
