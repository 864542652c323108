"""Mandarin text front end: text -> normalized sentences -> pinyin -> voice symbol ids.

Public API: `Frontend`, `Sentence`, `NothingToSay`, `load_lexicon`, `LexiconError`.
"""

from .frontend import Frontend, NothingToSay, Sentence
from .lexicon import LexiconError, load_lexicon

__all__ = ["Frontend", "LexiconError", "NothingToSay", "Sentence", "load_lexicon"]
