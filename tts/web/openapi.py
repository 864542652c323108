"""The OpenAPI 3 document of the service, built from the same constants the parser uses."""

from __future__ import annotations

from typing import Any

from config import Settings
from tts.audio import FORMATS, SAMPLE_RATES
from tts.emotions import EMOTIONS
from tts.subtitles import CONTENT_TYPES as SUBTITLE_TYPES
from tts.web import headers
from tts.web.openai_requests import FORMATS as OPENAI_FORMATS
from tts.web.openai_requests import MODELS as OPENAI_MODELS
from tts.web.openai_requests import SPEED_LIMITS, input_limit
from tts.web.openapi_ops import with_operations
from tts.web.requests import (
    MAX_CHARS_DEFAULT,
    MAX_CHARS_RANGE,
    SPEED_RANGE,
    SUBTITLE_FORMATS,
)

AUDIO_TYPES = sorted({spec.content_type for spec in FORMATS.values()})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if retry_after:
        response["headers"] = {headers.RETRY_AFTER: {"schema": {"type": "integer"},
                                               "description": "seconds to wait"}}
    return response


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "a field is invalid; the message names it and what is allowed",
        404: "unknown voice",
        413: "text, body or batch over its limit",
        415: "body is not JSON",
        422: "the text has nothing speakable",
        503: "overloaded, warming up or shutting down",
    }
    return {str(s): _error(text[s], retry_after=s == 503) for s in statuses}


def _audio_response() -> dict[str, Any]:
    header = {"schema": {"type": "string"}}
    return {
        "description": "audio in the requested format",
        "headers": {
            headers.REQUEST_ID: {**header, "description": "the caller's id, or a new one"},
            headers.CACHE: {"schema": {"type": "string",
                                   "enum": ["hit-memory", "hit-redis", "miss"]}},
            headers.AUDIO_DURATION: {**header, "description": "seconds of audio"},
            headers.ENGINE: header,
            headers.DEVICE: {"schema": {"type": "string", "enum": ["cpu", "cuda"]}},
        },
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES},
    }


def _with_content(response: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**response, "content": {**response["content"], **extra}}


def _schemas(settings: Settings) -> dict[str, Any]:
    low, high = SPEED_RANGE
    text = {"type": "string", "minLength": 1, "maxLength": settings.max_text_chars,
            "description": "plain text (Mandarin; digits, dates, Latin letters are read out)"}
    voice = {"type": "string", "description": "a name from GET /api/voices"}
    emotion = {"type": "string", "enum": list(EMOTIONS), "default": "neutral"}
    speed = {"type": "number", "minimum": low, "maximum": high, "default": 1.0}
    fmt = {"type": "string", "enum": list(FORMATS), "default": "wav",
           "description": "ogg is Opus: 8000, 16000 or 24000 Hz only"}
    rate = {"type": "integer", "enum": list(SAMPLE_RATES),
            "description": "default: the voice's native rate"}
    error_body = {"type": "object", "required": ["code", "message", "request_id"],
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                 "request_id": {"type": "string"}}}
    timestamps = {"type": "boolean", "default": False,
                  "description": "answer JSON with the audio in base64 and when each part of "
                                 "the text is spoken (/api/tts), or server-sent events "
                                 "(/api/tts/stream)"}
    seconds = {"type": "number", "minimum": 0}
    entry = {"type": "object", "required": ["text", "offset", "length", "start", "end"],
             "properties": {
                 "text": {"type": "string", "description": "the caller's own text"},
                 "offset": {"type": "integer", "minimum": 0,
                            "description": "index into the request's text (for SSML, into "
                                           "its text content; markup has no entries)"},
                 "length": {"type": "integer", "minimum": 0},
                 "start": seconds, "end": seconds,
                 "pinyin": {"type": "array", "items": {"type": "string"}}}}
    spoken = {"text": text, "voice": voice, "emotion": emotion, "speed": speed}
    return {
        "SpeechRequest": {
            "type": "object", "required": ["text"], "additionalProperties": False,
            "properties": {**spoken, "format": fmt, "sample_rate": rate,
                           "timestamps": timestamps},
        },
        "SubtitlesRequest": {
            "type": "object", "required": ["text"], "additionalProperties": False,
            "properties": {**spoken, "sample_rate": rate,
                           "format": {"type": "string", "enum": list(SUBTITLE_FORMATS),
                                      "default": "srt"},
                           "max_chars": {"type": "integer", "minimum": MAX_CHARS_RANGE[0],
                                         "maximum": MAX_CHARS_RANGE[1],
                                         "default": MAX_CHARS_DEFAULT,
                                         "description": "characters per cue"}},
        },
        "TimedSpeech": {
            "type": "object",
            "required": ["audio", "format", "sample_rate", "duration", "alignment", "sentences"],
            "properties": {
                "audio": {"type": "string", "format": "byte"}, "format": fmt,
                "sample_rate": {"type": "integer"}, "duration": seconds,
                "alignment": {"type": "array", "items": entry,
                              "description": "each spoken unit of the text, in order"},
                "sentences": {"type": "array", "items": entry,
                              "description": "the acoustic passes, in order"}},
        },
        "BatchRequest": {
            "type": "object", "required": ["items"], "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "minItems": 1, "maxItems": settings.max_batch_items,
                          "items": {"type": "object", "required": ["text"],
                                    "additionalProperties": False,
                                    "properties": {"text": text, "voice": voice,
                                                   "emotion": emotion, "speed": speed}}},
                "format": fmt, "sample_rate": rate,
            },
        },
        "BatchResponse": {
            "type": "object", "required": ["results", "format"],
            "properties": {"format": fmt, "results": {"type": "array", "items": {
                "type": "object", "required": ["index", "ok"],
                "properties": {
                    "index": {"type": "integer"}, "ok": {"type": "boolean"},
                    "audio_base64": {"type": "string", "format": "byte"},
                    "duration_s": {"type": "number"}, "cache": {"type": "string"},
                    "error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "status": {"type": "integer"},
                        "message": {"type": "string"}}},
                }}}},
        },
        "Voices": {"type": "object", "required": ["voices"], "properties": {"voices": {
            "type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "language": {"type": "string"},
                "sample_rate": {"type": "integer"}, "engine": {"type": "string"},
                "emotions": {"type": "array", "items": {"type": "string"}},
                "default": {"type": "boolean"}}}}}},
        "FrontendRequest": {"type": "object", "required": ["text"],
                            "additionalProperties": False, "properties": {"text": text}},
        "FrontendResponse": {"type": "object", "required": ["normalized", "sentences"],
                             "properties": {
            "normalized": {"type": "string"},
            "sentences": {"type": "array", "items": {"type": "object", "properties": {
                "text": {"type": "string"},
                "pinyin": {"type": "array", "items": {"type": "string"}},
                "phones": {"type": "array", "items": {"type": "string"}},
                "pause_s": {"type": "number", "minimum": 0,
                            "description": "silence after this acoustic pass"},
                "tight_start": {"type": "boolean", "description": "said without its opening "
                                "silence: the pass before was cut from the same clause"},
                "tight_end": {"type": "boolean", "description": "said without most of its "
                              "closing silence: the next pass is cut from the same clause"},
            }}}}},
        "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Readiness": {"type": "object", "required": ["ready"], "properties": {
            "ready": {"type": "boolean"}, "draining": {"type": "boolean"},
            "engine": {"type": "string"}, "device": {"type": "string", "nullable": True},
            "degraded": {"type": "boolean"},
            "warm_up_s": {"type": "number", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "cache": {"type": "object"}, "queue": {"type": "object"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": error_body}},
        "OpenAISpeechRequest": {
            "type": "object", "required": ["model", "input", "voice"],
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "enum": [*OPENAI_MODELS, settings.engine]},
                "input": {"type": "string", "minLength": 1,
                          "maxLength": input_limit(settings.max_text_chars)},
                "voice": {"type": "string", "description": "an OpenAI voice name (mapped to "
                          "the default voice) or a name from GET /api/voices"},
                "response_format": {"type": "string", "enum": list(OPENAI_FORMATS),
                                    "default": "mp3"},
                "speed": {"type": "number", "minimum": SPEED_LIMITS[0],
                          "maximum": SPEED_LIMITS[1], "default": 1.0,
                          "description": f"folded into {low}-{high}, what the voice can do"},
                "stream_format": {"type": "string", "enum": ["audio", "sse"],
                                  "default": "audio"},
                "instructions": {"type": "string",
                                 "description": "picks an emotion preset when it names one"},
            },
        },
        "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type", "request_id"], "properties": {
                "message": {"type": "string"}, "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
                "request_id": {"type": "string"}}}}},
    }


def _openai_error() -> dict[str, Any]:
    return {"description": "error in OpenAI's shape", "content": {"application/json": {
        "schema": _ref("OpenAIError")}}}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _json_ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def openapi_document(settings: Settings) -> dict[str, Any]:
    schemas = _schemas(settings)
    query = [
        {"name": name, "in": "query", "required": name == "text",
         "schema": schemas["SpeechRequest"]["properties"][name]}
        for name in schemas["SpeechRequest"]["properties"] if name != "timestamps"
    ]
    synth_errors = _errors(400, 404, 413, 422, 503)
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Mandarin TTS service", "version": "0.1.0",
                 "description": "Text to speech for Mandarin Chinese. Every error is "
                                "{\"error\": {code, message, request_id}}."},
        "paths": {
            "/api/tts": {
                "post": {"summary": "Synthesize text", "operationId": "ttsPost",
                         "requestBody": _json_body("SpeechRequest"),
                         "responses": {"200": _with_content(_audio_response(), {
                             "application/json": {"schema": _ref("TimedSpeech")}}),
                             **synth_errors, **_errors(415)}},
                "get": {"summary": "Synthesize text (for curl -o)", "operationId": "ttsGet",
                        "parameters": query,
                        "responses": {"200": _audio_response(), **synth_errors,
                                      "414": {"description": "query string over gunicorn's "
                                              "request-line limit (4094 bytes, answered by "
                                              "gunicorn itself): use POST for long text"}}},
            },
            "/api/tts/stream": {"post": {
                "summary": "Synthesize text as a chunked stream: audio starts before the text "
                           "is done (wav with an unknown-length header; flac arrives whole)",
                "operationId": "ttsStream", "requestBody": _json_body("SpeechRequest"),
                "responses": {"200": _with_content(_audio_response(), {
                    "text/event-stream": {"schema": {
                        "type": "string", "description": "with timestamps: events audio "
                        "{seq, chunk}, alignment {units}, done {duration}"}}}),
                    **synth_errors, **_errors(415)}}},
            "/api/tts/subtitles": {"post": {
                "summary": "Subtitles timed to the audio /api/tts returns for the same body",
                "operationId": "ttsSubtitles", "requestBody": _json_body("SubtitlesRequest"),
                "responses": {"200": {"description": "SRT or WebVTT cues", "content": {
                    media: {"schema": {"type": "string"}}
                    for media in SUBTITLE_TYPES.values()}},
                    **synth_errors, **_errors(415)}}},
            "/api/tts_batch": {"post": {
                "summary": "Synthesize many texts; one bad item never fails the others",
                "operationId": "ttsBatch", "requestBody": _json_body("BatchRequest"),
                "responses": {"200": _json_ok("BatchResponse", "one result per item, in order"),
                              **_errors(400, 413, 415, 503)}}},
            "/api/voices": {"get": {"summary": "Voices", "operationId": "voices",
                                    "responses": {"200": _json_ok("Voices", "voices"),
                                                  **_errors(503)}}},
            "/api/frontend": {"post": {
                "summary": "The acoustic passes synthesis will say (normalization, pinyin, phones, "
                           "pauses)",
                "operationId": "frontend", "requestBody": _json_body("FrontendRequest"),
                "responses": {"200": _json_ok("FrontendResponse", "analysis"),
                              **_errors(400, 413, 415, 422, 503)}}},
            "/v1/audio/speech": {"post": {
                "summary": "OpenAI-compatible speech (works with the official openai SDK)",
                "operationId": "openaiSpeech",
                "requestBody": _json_body("OpenAISpeechRequest"),
                "responses": {
                    "200": {"description": "audio (chunked), or server-sent events with "
                                           "stream_format=sse",
                            "content": {**_audio_response()["content"],
                                        "text/event-stream": {"schema": {"type": "string"}}}},
                    **{str(s): _openai_error() for s in (400, 404, 413, 415, 422, 503)}}}},
            "/v1/models": {"get": {
                "summary": "Models accepted by /v1/audio/speech", "operationId": "openaiModels",
                "responses": {"200": {"description": "OpenAI list of models", "content": {
                    "application/json": {"schema": {"type": "object"}}}},
                    "503": _openai_error()}}},
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                                 "responses": {"200": _json_ok("Status", "alive")}}},
            "/readyz": {"get": {"summary": "Readiness", "operationId": "readyz", "responses": {
                "200": _json_ok("Readiness", "ready"),
                "503": _json_ok("Readiness", "warming up, failed or draining")}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3",
                                                            "content": {"application/json": {
                                                                "schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": schemas},
    }
    return with_operations(document, settings)  # /metrics, /admin, 401/403/429
