"""Mandarin text front end: text -> normalized sentences -> pinyin -> voice symbol ids.

Public API: `Frontend`, `Sentence`, `NothingToSay`, `load_lexicon`, `LexiconError`,
`SsmlError` (and its `SsmlTooLarge`) for bad SSML.
"""

from .frontend import Frontend, NothingToSay, Sentence
from .lexicon import LexiconError, load_lexicon
from .ssml import SsmlError, SsmlTooLarge

__all__ = ["Frontend", "LexiconError", "NothingToSay", "Sentence", "SsmlError", "SsmlTooLarge",
           "load_lexicon"]
