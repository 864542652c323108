"""Subtitles (SRT, WebVTT) from the timed entries of the caller's text.

A cue ends where a reader would: at a sentence or clause mark in the caller's text,
where one acoustic pass ends and the next begins, or before it would grow past
`max_chars` characters. A single entry longer than that (an URL) is a cue of its own.
Cue text is the caller's own text for that stretch, punctuation inside kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts.frontend.alignment import Aligner, TimedUnit

FORMATS = ("srt", "vtt")
CONTENT_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt"}
_BREAKS = frozenset("，。！？；：、,.!?;:\n…")
_TRIM = " \t\r\n\u3000，。！？；：、,.!?;:…\0"


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cues(aligner: Aligner, max_chars: int) -> list[Cue]:
    """Cues over every entry of `aligner`, in order."""
    source = aligner.source
    pass_starts = set(aligner.pass_starts[1:])
    out: list[Cue] = []
    group: list[TimedUnit] = []
    for index, unit in enumerate(aligner.units):
        if group and (_breaks_between(source, group[-1], unit) or index in pass_starts):
            out.append(_cue(source, group))
            group = []
        group.append(unit)
        while len(group) > 1 and len(_text(source, group)) > max_chars:
            # too long: end the cue at the last word start, else before this entry
            cut = next((j for j in range(len(group) - 1, 0, -1) if group[j].word_start),
                       len(group) - 1)
            out.append(_cue(source, group[:cut]))
            group = group[cut:]
    if group:
        out.append(_cue(source, group))
    return [c for c in out if c.text]


def render(cue_list: list[Cue], fmt: str) -> str:
    """The cues as an SRT or WebVTT document."""
    if fmt == "srt":
        return "".join(f"{n}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n\n"
                       for n, c in enumerate(cue_list, 1))
    return "WEBVTT\n\n" + "".join(
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n\n" for c in cue_list)


def _breaks_between(source: str, before: TimedUnit, after: TimedUnit) -> bool:
    between = source[before.offset + before.length:after.offset]
    return any(ch in _BREAKS for ch in between)


def _text(source: str, group: list[TimedUnit]) -> str:
    start, end = group[0].offset, group[-1].offset + group[-1].length
    raw = source[start:end].replace("\0", "")
    # markup inside a cue (SSML) leaves no trace; line breaks would end the cue early
    return " ".join(raw.split()).strip(_TRIM)


def _cue(source: str, group: list[TimedUnit]) -> Cue:
    return Cue(group[0].start, group[-1].end, _text(source, group))


def _stamp(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"
