"""The load's 'uncached' texts must be new in every piece: the service caches single
sentences across texts, so a shared piece would be served from the cache."""

from __future__ import annotations

from collections import Counter

from tts.frontend import Frontend
from tts.testing.corpus_texts import Texts


def test_no_piece_of_an_uncached_text_was_said_before(voice_frontend: Frontend) -> None:
    pieces: Counter[str] = Counter()
    for tag in ("甲", "乙"):
        texts = Texts(tag)
        for _ in range(200):  # every corpus line twice
            pieces.update(s.text for s in voice_frontend.first_clause_split(texts.next()))
    repeated = {text: count for text, count in pieces.items() if count > 1}
    assert not repeated, repeated


def test_texts_keep_about_the_corpus_length() -> None:
    texts = Texts("丙")
    for n in range(100):
        line, text = texts.corpus[n], texts.text(n)
        assert abs(len(text) - len(line)) <= 6, (line, text)
        assert text != texts.text(n + 100)
