"""The public front end: text -> normalized sentences with pinyin, phones and ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .g2p import G2P
from .lexicon import validate_lexicon
from .normalize import TextNormalizer
from .split import split_sentences
from .symbols import SymbolTable, build_phones
from .word import Word

_LOGGER = logging.getLogger(__name__)

SENTENCE_PAUSE_S = 0.25  # after a piece that ends a sentence
CLAUSE_PAUSE_S = 0.12  # after a piece cut at a comma-like mark
WORD_PAUSE_S = 0.05  # after a piece cut between words (clause too long)
CLAUSE_BREAK = 3  # prosody mark between clauses inside one piece


class NothingToSay(ValueError):
    """text had no speakable content"""


@dataclass(frozen=True)
class Sentence:
    """One acoustic-model call: the text spoken, its syllables, phones and ids."""

    text: str
    pinyin: list[str]
    phones: list[str]
    ids: list[int]
    pause_s: float


@dataclass
class _Piece:
    """Words for one future Sentence, with the break before each word."""

    words: list[Word]
    pause_s: float

    @property
    def syllables(self) -> int:
        return sum(len(w.pinyin) for w in self.words)


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
        max_syllables: int = 60,
    ) -> None:
        if max_syllables < 1:
            raise ValueError(f"max_syllables must be >= 1, got {max_syllables}")
        self._table = SymbolTable(symbol_to_id, pinyin_dict)
        self._max = max_syllables
        self._normalizer = TextNormalizer()
        self._g2p = G2P(validate_lexicon(lexicon or {}))

    def normalize(self, text: str) -> str:
        """TN result: the text as it will be read (punctuation kept)."""
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

    def _pieces(self, sentence: list[str], split_first: bool) -> list[_Piece]:
        clauses = [words for words in (self._clause_words(c) for c in sentence) if words]
        pieces: list[_Piece] = []
        current: list[Word] = []
        for ci, words in enumerate(clauses):
            count = sum(len(w.pinyin) for w in words)
            used = sum(len(w.pinyin) for w in current)
            cut_here = split_first and ci == 1 and not pieces
            if current and (used + count > self._max or cut_here):
                pieces.append(_Piece(current, CLAUSE_PAUSE_S))
                current = []
            if count > self._max:
                pieces.extend(self._cut_long(words))
                continue
            if current:
                words[0].brk = CLAUSE_BREAK
            current.extend(words)
        if current:
            pieces.append(_Piece(current, CLAUSE_PAUSE_S))
        if pieces:
            pieces[-1].pause_s = SENTENCE_PAUSE_S
        return pieces

    def _cut_long(self, words: list[Word]) -> list[_Piece]:
        """Cut one over-long clause between words (inside a word if it must)."""
        pieces: list[_Piece] = []
        current: list[Word] = []
        used = 0
        for w in words:
            parts = [w]
            if len(w.pinyin) > self._max:
                parts = [
                    Word(w.text if k == 0 else "", w.pinyin[k : k + self._max], han=w.han,
                         fixed=w.fixed, brk=w.brk, chars=w.chars)
                    for k in range(0, len(w.pinyin), self._max)
                ]
            for part in parts:
                if current and used + len(part.pinyin) > self._max:
                    pieces.append(_Piece(current, WORD_PAUSE_S))
                    current, used = [], 0
                current.append(part)
                used += len(part.pinyin)
        if current:
            pieces.append(_Piece(current, CLAUSE_PAUSE_S))
        return pieces

    def _sentence(self, piece: _Piece, pause_s: float) -> Sentence:
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
        return Sentence(text, [s for s, _ in syllables], phones, self._table.ids(phones), pause_s)

    def _analyze(self, text: str, split_first: bool) -> list[Sentence]:
        normalized = self._normalizer.normalize(text)
        pieces: list[_Piece] = []
        for sentence in split_sentences(normalized):
            pieces.extend(self._pieces(sentence, split_first and not pieces))
        if not pieces:
            raise NothingToSay(f"nothing speakable in the text ({len(text)} characters)")
        out = [self._sentence(p, p.pause_s) for p in pieces[:-1]]
        out.append(self._sentence(pieces[-1], 0.0))
        return out
