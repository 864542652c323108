"""Pronunciation lexicons: word -> tone-numbered pinyin syllables.

The file format is one entry per line, ``word<TAB>pin1 yin1 ...``; blank lines and
text after ``#`` are ignored. Each syllable is toneless pinyin plus a tone digit
1-5 (``lv4`` or ``lü4`` for ü). A word of Chinese characters needs exactly one
syllable per character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_SYLLABLE = re.compile(r"^[a-z]+[1-5]$")


class LexiconError(ValueError):
    """A lexicon entry is malformed; the message names the source and line."""


def normalize_syllable(syllable: str) -> str:
    """Lower-case and spell ü as v, the way pypinyin and the voice table do."""
    return syllable.strip().lower().replace("ü", "v").replace("u:", "v")


def check_entry(word: str, syllables: list[str], where: str) -> None:
    """Raise LexiconError unless the entry is well formed."""
    if not word:
        raise LexiconError(f"{where}: empty word")
    if not syllables:
        raise LexiconError(f"{where}: word {word!r} has no pinyin")
    for syl in syllables:
        if not _SYLLABLE.match(syl):
            raise LexiconError(
                f"{where}: {syl!r} in {word!r} is not pinyin with a tone digit 1-5"
            )
    if all("\u4e00" <= ch <= "\u9fff" for ch in word) and len(word) != len(syllables):
        raise LexiconError(
            f"{where}: {word!r} has {len(word)} characters but {len(syllables)} syllables"
        )


def parse_lexicon(lines: Iterable[str], source: str = "<lexicon>") -> dict[str, list[str]]:
    """Parse lexicon lines; later entries for the same word replace earlier ones."""
    lexicon: dict[str, list[str]] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{lineno}"
        if "\t" not in line:
            raise LexiconError(f"{where}: expected 'word<TAB>pinyin ...', got {line!r}")
        word, pinyin = line.split("\t", 1)
        syllables = [normalize_syllable(s) for s in pinyin.split()]
        check_entry(word.strip(), syllables, where)
        lexicon[word.strip()] = syllables
    return lexicon


def load_lexicon(path: str | Path) -> dict[str, list[str]]:
    """Read an operator lexicon file (see the module docstring for the format)."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        return parse_lexicon(handle, source=str(path))


def validate_lexicon(lexicon: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check and normalize a lexicon given as a dict (e.g. from a voice manifest)."""
    out: dict[str, list[str]] = {}
    for word, syllables in lexicon.items():
        syls = [normalize_syllable(s) for s in syllables]
        check_entry(word, syls, "lexicon")
        out[word] = syls
    return out
