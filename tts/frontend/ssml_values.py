"""What an SSML attribute's value means: break durations and strengths, prosody rates,
pitches and volumes (words, percentages, semitones, decibels), and bounded numbers.

Each reader returns a plain number or raises `SsmlError` naming the element, the
attribute and what would have been accepted.
"""

from __future__ import annotations

import math
import re

from .ssml_items import SsmlError, SsmlTooLarge

MAX_BREAK_S = 10.0  # one <break>

BREAK_STRENGTH_S = {"none": 0.0, "x-weak": 0.05, "weak": 0.12, "medium": 0.25,
                    "strong": 0.5, "x-strong": 1.0}
RATE_WORDS = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25,
              "x-fast": 1.6}
PITCH_WORDS = {"x-low": 0.8, "low": 0.9, "medium": 1.0, "default": 1.0, "high": 1.12,
               "x-high": 1.25}
VOLUME_WORDS = {"silent": 0.0, "x-soft": 0.35, "soft": 0.6, "medium": 1.0, "default": 1.0,
                "loud": 1.5, "x-loud": 2.0}


def parse_number(what: str, raw: str, low: float, high: float) -> float:
    """A number from `low` to `high` (nan and words refused)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # also rejects nan
        raise SsmlError(f"text: {what}={raw!r} must be a number from {low:g} to {high:g}")
    return value


_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


def parse_time(raw: str) -> float:
    """'300ms' or '1.5s' -> seconds."""
    m = _TIME.match(raw)
    if not m:
        raise SsmlError(f"text: <break time={raw!r}>: write a duration like 300ms or 1.5s")
    seconds = float(m[1]) / (1000.0 if m[2] == "ms" else 1.0)
    if seconds > MAX_BREAK_S:
        raise SsmlTooLarge(f"text: <break time={raw!r}> is longer than {MAX_BREAK_S:g} s")
    return seconds


_RELATIVE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(%|st|dB)?\s*$")


def parse_ratio(name: str, raw: str, words: dict[str, float], *, semitones: bool) -> float:
    """A prosody rate or pitch: a word, n% of normal, +n%/-n% relative, a bare
    multiplier, or (pitch) +n st semitones."""
    if raw in words:
        return words[raw]
    m = _RELATIVE.match(raw)
    if m and m[2] != "dB" and (m[2] != "st" or semitones):
        value, unit, signed = float(m[1]), m[2], raw.strip()[0] in "+-"
        if unit == "st":
            return float(2.0 ** (value / 12.0))
        if unit == "%":
            return 1.0 + value / 100.0 if signed else value / 100.0
        if not signed and value > 0:
            return value
    hint = "n%, +n%, -n%, a multiplier" + (", +nst" if semitones else "")
    raise SsmlError(f"text: <prosody {name}={raw!r}>: use one of {', '.join(words)} or {hint}")


def parse_volume(raw: str) -> float:
    """A prosody volume as a linear gain: a word, +n dB / -n dB, n% of normal or +n%/-n%."""
    if raw in VOLUME_WORDS:
        return VOLUME_WORDS[raw]
    m = _RELATIVE.match(raw)
    if m and m[2] in ("dB", "%"):
        value, signed = float(m[1]), raw.strip()[0] in "+-"
        if m[2] == "dB":
            return float(10.0 ** (value / 20.0))
        return 1.0 + value / 100.0 if signed else value / 100.0
    raise SsmlError(f"text: <prosody volume={raw!r}>: use one of {', '.join(VOLUME_WORDS)}, "
                    "+ndB, -ndB or n%")
