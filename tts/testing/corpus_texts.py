"""Corpus lines as the texts a load sends: each one new (a cache miss), or a mix in
which a share repeats earlier texts (the seed system's traffic)."""

from __future__ import annotations

import itertools
import random
import threading

from tts.testing.texts import chinese_number, load_corpus


class Texts:
    """72-character corpus sentences made distinct (guaranteed cache misses).

    Text n is corpus line n % 100 with its last characters replaced by n read as
    digits (and its full stop kept), so every text keeps the corpus line's length.
    A `tag` separates texts of different phases that share a server.
    """

    def __init__(self, tag: str = "", corpus: list[str] | None = None) -> None:
        self.corpus = corpus or load_corpus()
        self.tag = tag
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def text(self, n: int) -> str:
        line = self.corpus[n % len(self.corpus)]
        mark = self.tag + chinese_number(n)
        return line[: max(1, len(line) - len(mark) - 1)] + mark + "。"

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
