"""The unit passed between the G2P, sandhi and symbol steps."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Word:
    """One segmenter word with one tone-numbered syllable per character.

    `pinyin` is aligned with `text` for Chinese words (so context rules can look at
    neighbouring characters); erhua merging happens last and breaks that alignment.
    `fixed` words come from the operator lexicon: sandhi leaves them alone.
    `brk` is the prosody break before the word: 1 word boundary, 2 phrase break.
    """

    text: str
    pinyin: list[str]
    han: bool = True
    fixed: bool = False
    brk: int = 1
    chars: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.chars:
            self.chars = list(self.text) if self.han else [self.text]


def tone(syllable: str) -> int:
    """Tone digit of a syllable (5 when it has none)."""
    return int(syllable[-1]) if syllable and syllable[-1].isdigit() else 5


def with_tone(syllable: str, new_tone: int) -> str:
    """Same syllable, another tone."""
    base = syllable[:-1] if syllable and syllable[-1].isdigit() else syllable
    return f"{base}{new_tone}"
