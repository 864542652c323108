"""Turn caller input (JSON bodies, query strings) into validated speech requests.

Every rejection names the field and what is allowed, so a caller can fix the
request from the message alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tts.audio import FORMATS, SAMPLE_RATES
from tts.emotions import EMOTIONS
from tts.engines.base import VoiceInfo
from tts.errors import BadRequest, NotFound, PayloadTooLarge
from tts.service import SpeechRequest
from tts.subtitles import FORMATS as SUBTITLE_FORMATS

SPEED_RANGE = (0.5, 2.0)
SPEECH_FIELDS = ("text", "voice", "emotion", "speed", "format", "sample_rate")
BATCH_ITEM_FIELDS = ("text", "voice", "emotion", "speed")
BATCH_FIELDS = ("items", "format", "sample_rate")
TIMESTAMPS = "timestamps"
MAX_CHARS_RANGE = (4, 200)
MAX_CHARS_DEFAULT = 20


@dataclass(frozen=True)
class Limits:
    max_text_chars: int
    max_batch_items: int


def reject_unknown(fields: Mapping[str, Any], allowed: tuple[str, ...], where: str = "") -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field {where}{unknown[0]!r}; allowed: {', '.join(allowed)}")


def parse_text(value: Any, limits: Limits, where: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}text is required: a non-empty string")
    if len(value) > limits.max_text_chars:
        raise PayloadTooLarge(
            f"{where}text has {len(value)} characters; the limit is {limits.max_text_chars}"
        )
    return value


def parse_voice(value: Any, voices: list[VoiceInfo], where: str = "") -> VoiceInfo:
    if value is None:
        return voices[0]
    names = ", ".join(v.name for v in voices)
    if not isinstance(value, str):
        raise BadRequest(f"{where}voice must be a string, one of: {names}")
    for voice in voices:
        if voice.name == value:
            return voice
    raise NotFound(f"{where}voice {value!r} not found; available voices: {names}")


def parse_emotion(value: Any, voice: VoiceInfo, where: str = "") -> str:
    if value is None:
        return "neutral"
    if not isinstance(value, str) or value not in EMOTIONS:
        raise BadRequest(f"{where}emotion must be one of: {', '.join(EMOTIONS)}")
    if value not in voice.emotions:
        raise BadRequest(
            f"{where}emotion {value!r} is not supported by voice {voice.name!r}; "
            f"it supports: {', '.join(voice.emotions)}"
        )
    return value


def parse_speed(value: Any, where: str = "") -> float:
    low, high = SPEED_RANGE
    if value is None:
        return 1.0
    speed = as_number(value)
    if speed is None or not low <= speed <= high:
        raise BadRequest(f"{where}speed must be a number from {low} to {high}")
    return speed


def parse_format(value: Any) -> str:
    if value is None:
        return "wav"
    if not isinstance(value, str) or value not in FORMATS:
        raise BadRequest(f"format must be one of: {', '.join(FORMATS)}")
    return value


def parse_sample_rate(value: Any, fmt: str, native: int) -> int:
    if value is None:
        return native if native in FORMATS[fmt].sample_rates else FORMATS[fmt].sample_rates[-1]
    rate = as_number(value)
    if rate is None or rate not in SAMPLE_RATES or rate != int(rate):
        raise BadRequest(f"sample_rate must be one of: {', '.join(map(str, SAMPLE_RATES))}")
    allowed = FORMATS[fmt].sample_rates
    if rate not in allowed:
        raise BadRequest(
            f"sample_rate {int(rate)} is not available for format {fmt!r}; "
            f"use one of: {', '.join(map(str, allowed))}"
        )
    return int(rate)


def as_number(value: Any) -> float | None:
    """A finite number from JSON or a query string; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # a JSON integer can be too large for a float
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_speech(fields: Mapping[str, Any], voices: list[VoiceInfo], limits: Limits) -> (
        SpeechRequest):
    """A whole `/api/tts` request, from a JSON object or query arguments."""
    reject_unknown(fields, SPEECH_FIELDS)
    text = parse_text(fields.get("text"), limits)
    voice = parse_voice(fields.get("voice"), voices)
    fmt = parse_format(fields.get("format"))
    return SpeechRequest(
        text=text,
        voice=voice.name,
        emotion=parse_emotion(fields.get("emotion"), voice),
        speed=parse_speed(fields.get("speed")),
        fmt=fmt,
        sample_rate=parse_sample_rate(fields.get("sample_rate"), fmt, voice.sample_rate),
    )


def take_timestamps(fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The speech fields without `timestamps`, and its value (a boolean, default false)."""
    rest = {k: v for k, v in fields.items() if k != TIMESTAMPS}
    value = fields.get(TIMESTAMPS, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{TIMESTAMPS} must be true or false")
    return rest, value


def parse_subtitles(fields: Mapping[str, Any], voices: list[VoiceInfo], limits: Limits) -> (
        tuple[SpeechRequest, str, int]):
    """A `/api/tts/subtitles` body: the `/api/tts` fields (audio as WAV: the timing is the
    same in every format), `format` srt or vtt, and `max_chars` per cue."""
    rest = {k: v for k, v in fields.items() if k not in ("format", "max_chars")}
    fmt = fields.get("format", "srt")
    if fmt not in SUBTITLE_FORMATS:
        raise BadRequest(f"format must be one of: {', '.join(SUBTITLE_FORMATS)}")
    low, high = MAX_CHARS_RANGE
    max_chars = fields.get("max_chars", MAX_CHARS_DEFAULT)
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) \
            or not low <= max_chars <= high:
        raise BadRequest(f"max_chars must be an integer from {low} to {high}")
    return parse_speech(rest, voices, limits), fmt, max_chars


def parse_batch_item(item: Any, index: int, voices: list[VoiceInfo], limits: Limits,
                     fmt: str, sample_rate: int | None) -> SpeechRequest:
    """One batch item; errors name the item (`items[3].speed ...`)."""
    where = f"items[{index}]."
    if not isinstance(item, dict):
        raise BadRequest(f"items[{index}] must be an object with a text field")
    reject_unknown(item, BATCH_ITEM_FIELDS, where)
    voice = parse_voice(item.get("voice"), voices, where)
    return SpeechRequest(
        text=parse_text(item.get("text"), limits, where),
        voice=voice.name,
        emotion=parse_emotion(item.get("emotion"), voice, where),
        speed=parse_speed(item.get("speed"), where),
        fmt=fmt,
        sample_rate=sample_rate or parse_sample_rate(None, fmt, voice.sample_rate),
    )


def parse_batch_envelope(body: Mapping[str, Any], limits: Limits, native: int) -> (
        tuple[list[Any], str, int | None]):
    """The batch's shared fields; the items themselves are checked one by one."""
    reject_unknown(body, BATCH_FIELDS)
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise BadRequest("items is required: a non-empty array of {text, voice?, emotion?, speed?}")
    if len(items) > limits.max_batch_items:
        raise PayloadTooLarge(
            f"items has {len(items)} entries; the limit is {limits.max_batch_items}"
        )
    fmt = parse_format(body.get("format"))
    rate = body.get("sample_rate")
    return items, fmt, None if rate is None else parse_sample_rate(rate, fmt, native)
