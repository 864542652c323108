"""OpenAI's speech request (`POST /v1/audio/speech`), read into the service's own.

Its names and bounds (models, voices, formats, `speed`, `instructions`) are mapped onto
what the voice can do; errors name OpenAI's parameter, so its SDK shows the caller
which field to fix.
"""

from __future__ import annotations

from typing import Any

from tts.engines.base import VoiceInfo
from tts.errors import BadRequest, NotFound, PayloadTooLarge, TTSError
from tts.service import SpeechRequest
from tts.web.requests import SPEED_RANGE, Limits, as_number, reject_unknown

MAX_INPUT_CHARS = 4096  # OpenAI's own limit for `input`
SPEED_LIMITS = (0.25, 4.0)  # what OpenAI accepts; folded into what the voice can do
MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse")
FORMATS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav",
           "pcm": "pcm"}
FIELDS = ("model", "input", "voice", "response_format", "speed", "stream_format",
          "instructions")
# `instructions` (free text) picks an emotion preset when it names one.
EMOTION_WORDS = {
    "happy": ("happy", "cheerful", "joy", "excited", "开心", "高兴", "愉快"),
    "sad": ("sad", "sorrow", "悲伤", "难过", "伤心"),
    "angry": ("angry", "furious", "生气", "愤怒"),
    "fear": ("fear", "scared", "afraid", "害怕", "恐惧"),
    "surprise": ("surprise", "astonish", "惊讶", "吃惊"),
    "calm": ("calm", "soothing", "gentle", "平静", "温柔"),
    "serious": ("serious", "formal", "严肃", "正式"),
}


def fail(cls: type[TTSError], param: str, message: str) -> TTSError:
    return cls(message, param=param)


def input_limit(max_text_chars: int) -> int:
    """OpenAI's limit, or the service's MAX_TEXT_CHARS when that is lower: the same
    text is refused alike on /api/tts and here."""
    return min(MAX_INPUT_CHARS, max_text_chars)


def model_ids(engine_name: str) -> list[str]:
    return [*MODELS, engine_name]


def pick_voice(value: Any, voices: list[VoiceInfo]) -> VoiceInfo:
    if not isinstance(value, str) or not value:
        raise fail(BadRequest, "voice", "voice is required: one of "
                   f"{', '.join(OPENAI_VOICES)} or a service voice ({voices[0].name})")
    if value in OPENAI_VOICES:
        return voices[0]
    for voice in voices:
        if voice.name == value:
            return voice
    raise fail(NotFound, "voice", f"voice {value!r} not found; use one of "
               f"{', '.join(OPENAI_VOICES)} or {', '.join(v.name for v in voices)}")


def pick_speed(value: Any) -> float:
    if value is None:
        return 1.0
    speed = as_number(value)
    low, high = SPEED_LIMITS
    if speed is None or not low <= speed <= high:
        raise fail(BadRequest, "speed", f"speed must be a number from {low} to {high}")
    return min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1])


def pick_emotion(instructions: Any, voice: VoiceInfo) -> str:
    if instructions is None:
        return "neutral"
    if not isinstance(instructions, str):
        raise fail(BadRequest, "instructions", "instructions must be a string")
    lowered = instructions.lower()
    for emotion, words in EMOTION_WORDS.items():
        if emotion in voice.emotions and any(word in lowered for word in words):
            return emotion
    return "neutral"


def parse_openai(body: dict[str, Any], voices: list[VoiceInfo], engine_name: str,
                 limits: Limits) -> tuple[SpeechRequest, str]:
    reject_unknown(body, FIELDS)
    model = body.get("model")
    if model not in model_ids(engine_name):
        raise fail(BadRequest, "model",
                   f"model must be one of: {', '.join(model_ids(engine_name))}")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise fail(BadRequest, "input", "input is required: a non-empty string")
    limit = input_limit(limits.max_text_chars)
    if len(text) > limit:
        raise fail(PayloadTooLarge, "input",
                   f"input has {len(text)} characters; the limit is {limit}")
    fmt = body.get("response_format", "mp3")
    if not isinstance(fmt, str) or fmt not in FORMATS:  # a dict or list is unhashable
        raise fail(BadRequest, "response_format",
                   f"response_format must be one of: {', '.join(FORMATS)}")
    stream_format = body.get("stream_format", "audio")
    if not isinstance(stream_format, str) or stream_format not in ("audio", "sse"):
        raise fail(BadRequest, "stream_format", "stream_format must be audio or sse")
    voice = pick_voice(body.get("voice"), voices)
    # OpenAI's audio is 24 kHz; so is the embedded voice (Opus offers 24 kHz too).
    rate = 24000 if voice.sample_rate not in (8000, 16000) else voice.sample_rate
    request = SpeechRequest(text=text, voice=voice.name,
                            emotion=pick_emotion(body.get("instructions"), voice),
                            speed=pick_speed(body.get("speed")), fmt=FORMATS[fmt],
                            sample_rate=rate)
    return request, stream_format
