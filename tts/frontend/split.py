"""Split normalized text into sentences and clauses, dropping the punctuation.

A sentence ends at 。！？；… (and their ASCII forms) or a newline; inside it,
clauses end at ，、：. Other punctuation (quotes, brackets, dashes) becomes a
space, which the G2P step treats as a light phrase break.
"""

from __future__ import annotations

import re

SENTENCE_END = "。！？!?；;.…\n"
CLAUSE_END = "，,、：:"

_SENTENCE_RE = re.compile(f"[{re.escape(SENTENCE_END)}]+")
_CLAUSE_RE = re.compile(f"[{re.escape(CLAUSE_END)}]+")


def soften(text: str) -> str:
    """Replace the remaining punctuation and symbols with spaces."""
    out = []
    for ch in text:
        if ch.isalnum() or ch in "-'":
            out.append(ch)
        else:
            out.append(" ")
    return re.sub(r"\s+", " ", "".join(out)).strip()


def split_sentences(text: str) -> list[list[str]]:
    """Return sentences as lists of clause texts; empty clauses are dropped."""
    sentences: list[list[str]] = []
    for raw in _SENTENCE_RE.split(text):
        clauses = [soften(c) for c in _CLAUSE_RE.split(raw)]
        clauses = [c for c in clauses if c]
        if clauses:
            sentences.append(clauses)
    return sentences
