"""What SSML parsing yields, and what it raises: shared by the parser (`ssml`) and the
attribute readers (`ssml_values`), and read by the front end."""

from __future__ import annotations

from dataclasses import dataclass


class SsmlError(ValueError):
    """The SSML is malformed or uses something unsupported; the message says where."""


class SsmlTooLarge(SsmlError):
    """The SSML is over one of the size limits (elements, depth, break time)."""


@dataclass(frozen=True)
class Style:
    """Per-run prosody set by SSML; the defaults mean "as the request says"."""

    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0
    emotion: str | None = None
    intensity: float | None = None


@dataclass(frozen=True)
class Run:
    """Text to read in one style; `pinyin` set means its reading is fixed (phoneme)."""

    text: str
    style: Style
    pinyin: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Break:
    seconds: float


Item = Run | Break
