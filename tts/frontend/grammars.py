"""wetext's Normalizer, without reading the grammars the service never applies.

Importing wetext reads every grammar it ships (English, Japanese, inverse
normalization: some 40 MB of FSTs, about half a second of each start), while the
service applies only Chinese TN's tagger and verbalizer. So wetext is imported with
kaldifst's normalizer swapped for one that reads its file the first time it is
applied; the front end's warm-up in the master then reads the two it needs.
"""

from __future__ import annotations

from typing import Any


class GrammarOnFirstUse:
    """Stands in for kaldifst.TextNormalizer(path): reads the file on first use.
    Not locked: wetext's callers here serialize their calls into the grammar."""

    def __init__(self, make: Any, path: str) -> None:
        self.make = make
        self.path = path
        self._grammar: Any = None

    @property
    def grammar(self) -> Any:
        if self._grammar is None:
            self._grammar = self.make(self.path)
        return self._grammar

    def __call__(self, text: str) -> str:  # how wetext applies a grammar
        return str(self.grammar(text))


def wetext_normalizer() -> type:
    """wetext.Normalizer, its grammars read on first use (when this is the first
    import of wetext in the process; otherwise as wetext read them)."""
    import kaldifst

    real = kaldifst.TextNormalizer
    kaldifst.TextNormalizer = lambda path: GrammarOnFirstUse(real, path)
    try:
        from wetext import Normalizer
    finally:
        kaldifst.TextNormalizer = real
    return Normalizer
