"""The public front end: text -> normalized sentences with pinyin, phones and ids."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .g2p import G2P
from .lexicon import validate_lexicon
from .normalize import TextNormalizer, is_han
from .pieces import CLAUSE_PAUSE_S, SENTENCE_PAUSE_S, Piece, pack
from .split import CLAUSE_END, SENTENCE_END, soften, split_sentences
from .ssml import Break, Item, Run, SsmlError, Style, is_ssml, parse_ssml
from .symbols import SymbolTable, build_phones
from .word import Word

_LOGGER = logging.getLogger(__name__)


class NothingToSay(ValueError):
    """text had no speakable content"""


@dataclass(frozen=True)
class Sentence:
    """One acoustic-model call: the text spoken, its syllables, phones and ids.

    The fields after `pause_s` are set by SSML only; their defaults mean "as the
    request says". `rate`, `pitch` and `volume` multiply the request's speed, the
    F0 ratio and the output gain; `emotion`/`intensity` replace the request's.
    `lead_s` is silence before the sentence (a <break> before any text).
    `units` are the spoken units in order, each with how many of `pinyin` it takes
    (a Han character its one syllable, a Latin word, an erhua word or a number
    spelled out as digits all of theirs) and whether it begins a word: what
    timestamps and subtitle cues are made of.
    """

    text: str
    pinyin: list[str]
    phones: list[str]
    ids: list[int]
    pause_s: float
    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0
    emotion: str | None = None
    intensity: float | None = None
    lead_s: float = 0.0
    units: tuple[tuple[str, int, bool], ...] = ()
    tight_start: bool = False  # cut from the same clause as the sentence before
    tight_end: bool = False  # ... as the sentence after: said without edge silence there

    def overrides(self) -> list[object]:
        """The SSML settings for a cache key: empty when there are none, so plain
        text keeps the keys it always had."""
        values: list[object] = [self.rate, self.pitch, self.volume, self.emotion,
                                self.intensity, self.lead_s]
        tight = [self.tight_start, self.tight_end]
        if tight != [False, False]:
            values.extend(tight)
        return [] if values == [1.0, 1.0, 1.0, None, None, 0.0] else values


class Frontend:
    """One per worker, built at start-up; pure Python, thread-safe after construction.

    Building loads the TN grammar, the segmenter dictionary and the rule tables
    (about a second); every later call only reads them.
    """

    def __init__(
        self,
        symbol_to_id: dict[str, int],
        pinyin_dict: dict[str, list[str]],
        *,
        lexicon: dict[str, list[str]] | None = None,
        max_syllables: int = 20,
        yao_for_one: str = "codes",
        segmenter_dir: Path | None = None,
    ) -> None:
        if max_syllables < 1:
            raise ValueError(f"max_syllables must be >= 1, got {max_syllables}")
        self._table = SymbolTable(symbol_to_id, pinyin_dict)
        self._max = max_syllables
        self._normalizer = TextNormalizer(yao_for_one)
        self._g2p = G2P(validate_lexicon(lexicon or {}), segmenter_dir)

    def normalize(self, text: str) -> str:
        """TN result: the text as it will be read (punctuation kept; for SSML, the
        text of its elements as they will be read, markup gone)."""
        if is_ssml(text):
            return "".join(item.text if item.pinyin is not None
                           else self._normalizer.normalize(item.text)
                           for item in parse_ssml(text) if isinstance(item, Run)).strip()
        return self._normalizer.normalize(text)

    def analyze(self, text: str) -> list[Sentence]:
        """Normalized sentences ready for the acoustic model, in order."""
        return self._analyze(text, split_first=False)

    def first_clause_split(self, text: str) -> list[Sentence]:
        """Like analyze, but the first sentence is cut after its first clause so
        that streaming can start speaking sooner."""
        return self._analyze(text, split_first=True)

    # -- internals ----------------------------------------------------------------

    def _clause_words(self, clause: str) -> list[Word]:
        words = self._g2p.convert(clause)
        out: list[Word] = []
        for w in words:
            spoken = [c for c in (self._table.canonical(p) for p in w.pinyin) if c]
            if len(spoken) != len(w.pinyin):
                _LOGGER.warning("dropping unspeakable syllables in %r: %s", w.text, w.pinyin)
            if spoken:
                w.pinyin = spoken
                out.append(w)
        return out

    def _pieces(self, sentence: list[str], split_first: bool) -> list[Piece]:
        return pack([self._clause_words(c) for c in sentence], self._max,
                    first_alone=split_first)

    def _sentence(self, piece: Piece, pause_s: float, style: Style | None = None) -> Sentence:
        text_parts: list[str] = []
        syllables: list[tuple[str, int]] = []
        for k, w in enumerate(piece.words):
            if k > 0 and (w.brk >= 2 or not w.han):
                text_parts.append(" ")
            text_parts.append(w.text)
            for i, syl in enumerate(w.pinyin):
                syllables.append((syl, 0 if i > 0 else w.brk))
        phones = build_phones(self._table, syllables)
        text = "".join(text_parts).strip()
        sentence = Sentence(text, [s for s, _ in syllables], phones, self._table.ids(phones),
                            pause_s, units=_units(piece.words), tight_start=piece.tight_start,
                            tight_end=piece.tight_end)
        if style is None or style == Style():
            return sentence
        return replace(sentence, rate=style.rate, pitch=style.pitch, volume=style.volume,
                       emotion=style.emotion, intensity=style.intensity)

    def _analyze(self, text: str, split_first: bool) -> list[Sentence]:
        if is_ssml(text):
            return self._analyze_ssml(parse_ssml(text), split_first)
        normalized = self._normalizer.normalize(text)
        pieces: list[Piece] = []
        for sentence in split_sentences(normalized):
            pieces.extend(self._pieces(sentence, split_first and not pieces))
        if not pieces:
            raise NothingToSay(f"nothing speakable in the text ({len(text)} characters)")
        out = [self._sentence(p, p.pause_s) for p in pieces[:-1]]
        out.append(self._sentence(pieces[-1], 0.0))
        return out

    # -- SSML -------------------------------------------------------------------------

    def _analyze_ssml(self, items: list[Item], split_first: bool) -> list[Sentence]:
        """Runs of one style between breaks become their own sentences; a break
        becomes the pause after the sentence before it (or `lead_s` of the first)."""
        out: list[Sentence] = []
        lead = 0.0
        from_break = False  # the last sentence's pause was set by <break>
        block: list[Run] = []

        def flush() -> None:
            nonlocal from_break
            if not block:
                return
            sentences, ended = self._ssml_clauses(block)
            pieces: list[Piece] = []
            for sentence in sentences:
                pieces.extend(pack(sentence, self._max,
                                   first_alone=split_first and not pieces and not out))
            if pieces:
                pieces[-1].pause_s = _NATURAL_PAUSE_S[ended]
                out.extend(self._sentence(p, p.pause_s, block[0].style) for p in pieces)
                from_break = False
            block.clear()

        for item in items:
            if isinstance(item, Break):
                flush()
                if not out:
                    lead += item.seconds
                elif from_break:
                    out[-1] = replace(out[-1], pause_s=out[-1].pause_s + item.seconds)
                else:  # the break replaces the pause the text had at this point
                    out[-1] = replace(out[-1], pause_s=item.seconds)
                    from_break = True
                continue
            if block and block[0].style != item.style:
                flush()
            block.append(item)
        flush()
        if not out:
            raise NothingToSay("nothing speakable in the SSML")
        if not from_break:
            out[-1] = replace(out[-1], pause_s=0.0)
        if lead:
            out[0] = replace(out[0], lead_s=lead)
        return out

    def _ssml_clauses(self, runs: list[Run]) -> tuple[list[list[list[Word]]], str]:
        """Runs of one style -> sentences of clauses of words, and how the last one
        ended ("sentence", "clause" or "none": cut mid-clause by a style change)."""
        sentences: list[list[list[Word]]] = []
        clauses: list[list[Word]] = []
        clause: list[Word] = []
        ended = "none"

        def close(level: str) -> None:
            nonlocal clause, clauses, ended
            if clause:
                clauses.append(clause)
                clause = []
            if level == "sentence" and clauses:
                sentences.append(clauses)
                clauses = []
            ended = level

        for run in runs:
            if run.pinyin is not None:
                clause.append(self._fixed_word(run))
                ended = "none"
                continue
            for part in _BOUNDARY.split(self._normalizer.normalize(run.text)):
                if not part:
                    continue
                if part[0] in SENTENCE_END:
                    close("sentence")
                elif part[0] in CLAUSE_END:
                    close("clause")
                else:
                    plain = soften(part)
                    words = self._clause_words(plain) if plain else []
                    if words:
                        clause.extend(words)
                        ended = "none"
        tail = ended
        close("sentence")
        return sentences, tail

    def _fixed_word(self, run: Run) -> Word:
        """A <phoneme> override: its syllables as given, untouched by rules and sandhi."""
        assert run.pinyin is not None
        syllables: list[str] = []
        for syl in run.pinyin:
            spoken = self._table.canonical(syl)
            if spoken is None:
                raise SsmlError(f"text: <phoneme ph={' '.join(run.pinyin)!r}>: {syl!r} is not "
                                "a syllable this voice can say")
            syllables.append(spoken)
        han = len(run.text) == len(syllables) and all(is_han(ch) for ch in run.text)
        return Word(run.text, syllables, han=han, fixed=True)


def _units(words: list[Word]) -> tuple[tuple[str, int, bool], ...]:
    """Spoken units of a pass: one per Han character where characters and syllables
    pair up, else one per word (a word cut across passes adds to the unit before)."""
    units: list[tuple[str, int, bool]] = []
    for w in words:
        if not w.text and units:
            text, count, starts = units[-1]
            units[-1] = (text, count + len(w.pinyin), starts)
        elif w.han and len(w.text) == len(w.pinyin):
            units.extend((ch, 1, k == 0) for k, ch in enumerate(w.text))
        else:
            units.append((w.text, len(w.pinyin), True))
    return tuple(units)


_BOUNDARY = re.compile(f"([{re.escape(SENTENCE_END)}]+|[{re.escape(CLAUSE_END)}]+)")
_NATURAL_PAUSE_S = {"sentence": SENTENCE_PAUSE_S, "clause": CLAUSE_PAUSE_S, "none": 0.0}
