"""OpenAI-compatible routes: `POST /v1/audio/speech` and `GET /v1/models`.

The official `openai` SDK works unchanged with `base_url` pointed here. Errors on
these routes use OpenAI's shape ({"error": {message, type, param, code}}) so the
SDK raises its usual exceptions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify

from tts.engines.base import VoiceInfo
from tts.service import SpeechRequest
from tts.web import errors
from tts.web.context import json_object, ready_worker
from tts.web.requests import SPEED_RANGE, as_number, reject_unknown
from tts.web.speech import engine_headers, voices_of
from tts.web.streaming import open_stream

openai_compat = Blueprint("openai", __name__)

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


class OpenAIError(errors.ServiceError):
    """A request error carrying the offending parameter, rendered in OpenAI's shape."""

    def __init__(self, cause: errors.ServiceError, param: str | None) -> None:
        super().__init__(cause.message, retry_after=cause.retry_after)
        self.status, self.code, self.param = cause.status, cause.code, param


@openai_compat.errorhandler(errors.ServiceError)
def openai_error(exc: errors.ServiceError) -> Response:
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    response = jsonify({"error": {"message": exc.message, "type": kind,
                                  "param": getattr(exc, "param", None), "code": exc.code}})
    response.status_code = exc.status
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def fail(cls: type[errors.ServiceError], param: str, message: str) -> OpenAIError:
    return OpenAIError(cls(message), param)


def model_ids(engine_name: str) -> list[str]:
    return [*MODELS, engine_name]


def pick_voice(value: Any, voices: list[VoiceInfo]) -> VoiceInfo:
    if not isinstance(value, str) or not value:
        raise fail(errors.BadRequest, "voice", "voice is required: one of "
                   f"{', '.join(OPENAI_VOICES)} or a service voice ({voices[0].name})")
    if value in OPENAI_VOICES:
        return voices[0]
    for voice in voices:
        if voice.name == value:
            return voice
    raise fail(errors.NotFound, "voice", f"voice {value!r} not found; use one of "
               f"{', '.join(OPENAI_VOICES)} or {', '.join(v.name for v in voices)}")


def pick_speed(value: Any) -> float:
    if value is None:
        return 1.0
    speed = as_number(value)
    low, high = SPEED_LIMITS
    if speed is None or not low <= speed <= high:
        raise fail(errors.BadRequest, "speed", f"speed must be a number from {low} to {high}")
    return min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1])


def pick_emotion(instructions: Any, voice: VoiceInfo) -> str:
    if instructions is None:
        return "neutral"
    if not isinstance(instructions, str):
        raise fail(errors.BadRequest, "instructions", "instructions must be a string")
    lowered = instructions.lower()
    for emotion, words in EMOTION_WORDS.items():
        if emotion in voice.emotions and any(word in lowered for word in words):
            return emotion
    return "neutral"


def parse_openai(body: dict[str, Any], voices: list[VoiceInfo], engine_name: str) -> (
        tuple[SpeechRequest, str]):
    try:
        reject_unknown(body, FIELDS)
    except errors.ServiceError as exc:
        raise OpenAIError(exc, None) from exc
    model = body.get("model")
    if model not in model_ids(engine_name):
        raise fail(errors.BadRequest, "model",
                   f"model must be one of: {', '.join(model_ids(engine_name))}")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise fail(errors.BadRequest, "input", "input is required: a non-empty string")
    if len(text) > MAX_INPUT_CHARS:
        raise fail(errors.PayloadTooLarge, "input",
                   f"input has {len(text)} characters; the limit is {MAX_INPUT_CHARS}")
    fmt = body.get("response_format", "mp3")
    if not isinstance(fmt, str) or fmt not in FORMATS:  # a dict or list is unhashable
        raise fail(errors.BadRequest, "response_format",
                   f"response_format must be one of: {', '.join(FORMATS)}")
    stream_format = body.get("stream_format", "audio")
    if not isinstance(stream_format, str) or stream_format not in ("audio", "sse"):
        raise fail(errors.BadRequest, "stream_format", "stream_format must be audio or sse")
    voice = pick_voice(body.get("voice"), voices)
    # OpenAI's audio is 24 kHz; so is the embedded voice (Opus offers 24 kHz too).
    rate = 24000 if voice.sample_rate not in (8000, 16000) else voice.sample_rate
    request = SpeechRequest(text=text, voice=voice.name,
                            emotion=pick_emotion(body.get("instructions"), voice),
                            speed=pick_speed(body.get("speed")), fmt=FORMATS[fmt],
                            sample_rate=rate)
    return request, stream_format


def sse_events(chunks: Iterable[bytes], characters: int) -> Iterator[str]:
    """OpenAI's speech SSE: base64 audio deltas, then a done event with usage."""
    for chunk in chunks:
        if chunk:
            delta = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
            yield f"data: {json.dumps(delta)}\n\n"
    usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
    yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n"


@openai_compat.post("/v1/audio/speech")
def speech() -> Response:
    worker = ready_worker()
    assert worker.engine is not None
    try:
        body = json_object()
    except errors.ServiceError as exc:
        raise OpenAIError(exc, None) from exc
    request, stream_format = parse_openai(body, voices_of(worker), worker.engine.name)
    try:
        stream, chunks = open_stream(worker, request)
    except errors.ServiceError as exc:
        raise OpenAIError(exc, "input") from exc
    g.log.update(text_chars=len(request.text), cache=stream.cache, streamed=True,
                 openai=stream_format)
    headers = {"X-Cache": stream.cache, **engine_headers(worker)}
    if stream_format == "sse":
        events = Response(sse_events(chunks, len(request.text)), mimetype="text/event-stream",
                          headers=headers)
        events.call_on_close(chunks.close)  # the events generator may never have started
        return events
    return Response(chunks, mimetype=stream.content_type, headers=headers)


@openai_compat.get("/v1/models")
def models() -> Response:
    worker = ready_worker()
    assert worker.engine is not None
    return jsonify({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "mandarin-tts"}
        for name in model_ids(worker.engine.name)
    ]})

