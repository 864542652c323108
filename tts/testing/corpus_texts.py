"""Corpus lines as the texts a load sends: each one new (a cache miss), or a mix in
which a share repeats earlier texts (the seed system's traffic)."""

from __future__ import annotations

import itertools
import random
import re
import threading

from tts.testing.texts import chinese_number, load_corpus

LONG_CLAUSE_CHARS = 10  # a longer clause may be cut into several passes (numbers read long)
_CLAUSE = re.compile(r"([^，。！？；、：]+)([，。！？；、：]*)")


def _marked(clause: str, mark: str) -> str:
    """`clause` opening and ending with `mark` (a short one only ending with it), and
    with it in the middle too when long enough to be cut into several passes; at least
    one character of its own is kept."""
    if len(clause) <= 2 * len(mark) + 2:  # not "4." + mark: a cut number reads apart
        return clause[: max(1, len(clause) - len(mark))].rstrip(".") + mark
    body = clause[len(mark):len(clause) - len(mark)]
    if len(clause) > LONG_CLAUSE_CHARS:
        half = len(body) // 2
        body = body[:half] + mark + body[half + len(mark):]
    return mark + body + mark


class Texts:
    """72-character corpus sentences made distinct in every piece (guaranteed misses).

    Text n is corpus line n % 100 with the first and last characters of each clause
    (and middle ones of a long clause) replaced by n read as digits, punctuation kept,
    so a text keeps about the line's length. Every clause carries the mark because the
    service also caches single sentences across texts: a text sharing all but its end
    with an earlier one would be mostly a cache hit. A `tag` separates texts of
    different phases that share a server.
    """

    def __init__(self, tag: str = "", corpus: list[str] | None = None) -> None:
        self.corpus = corpus or load_corpus()
        self.tag = tag
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def text(self, n: int) -> str:
        line = self.corpus[n % len(self.corpus)]
        mark = self.tag + chinese_number(n)
        return "".join(_marked(body, mark) + end for body, end in _CLAUSE.findall(line))

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        return self.text(n)


class MixedTexts:
    """The seed system's mix: `repeat` of requests repeat an earlier text, the rest are new."""

    def __init__(self, texts: Texts, repeat: float = 0.35, seed: int = 7) -> None:
        self.texts = texts
        self.repeat = repeat
        self.issued: list[str] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self.issued and self._random.random() < self.repeat:
                return self._random.choice(self.issued)
            text = self.texts.next()
            self.issued.append(text)
            return text
