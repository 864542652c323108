"""Polyphone context rules, loaded from the bundled data/polyphones.tsv table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from .lexicon import LexiconError, parse_lexicon


@dataclass(frozen=True)
class PolyphoneRule:
    """Read `char` as `reading` when the word and both contexts match."""

    char: str
    word: re.Pattern[str]
    left: re.Pattern[str] | None
    right: re.Pattern[str] | None
    reading: str

    def matches(self, word: str, left: str, right: str) -> bool:
        if not self.word.fullmatch(word):
            return False
        if self.left is not None and not self.left.search(left):
            return False
        return self.right is None or bool(self.right.match(right))


def _compile(field: str) -> re.Pattern[str] | None:
    return None if field in ("", "-") else re.compile(field)


def parse_rules(text: str, source: str) -> dict[str, list[PolyphoneRule]]:
    """Parse the rule table; rules are grouped by character, order kept."""
    rules: dict[str, list[PolyphoneRule]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) != 5:
            raise LexiconError(f"{source}:{lineno}: expected 5 tab-separated fields")
        char, word, left, right, reading = (f.strip() for f in fields)
        try:
            rule = PolyphoneRule(char, re.compile(word), _compile(left), _compile(right), reading)
        except re.error as exc:
            raise LexiconError(f"{source}:{lineno}: bad regex: {exc}") from exc
        rules.setdefault(char, []).append(rule)
    return rules


def _data_text(name: str) -> str:
    return resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")


def load_polyphone_rules() -> dict[str, list[PolyphoneRule]]:
    """The bundled polyphone table."""
    return parse_rules(_data_text("polyphones.tsv"), "polyphones.tsv")


def load_builtin_lexicon() -> dict[str, list[str]]:
    """The bundled word lexicon (neutral-tone words, fixed readings)."""
    return parse_lexicon(_data_text("words.tsv").splitlines(), "words.tsv")
