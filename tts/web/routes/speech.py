"""Synthesis routes: single (GET and POST), batch, voices, and the front-end check."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from tts.service import Speech, SpeechRequest
from tts.web import errors
from tts.web.context import json_object, limits_of, ready_worker, synthesis_errors
from tts.web.requests import (
    parse_batch_envelope,
    parse_batch_item,
    parse_speech,
    parse_text,
    reject_unknown,
)
from tts.worker import Worker

speech = Blueprint("speech", __name__)


def speak(worker: Worker, speech_request: SpeechRequest) -> Speech:
    """Synthesize (or fetch from cache) and note what happened for the request log."""
    assert worker.service is not None
    with synthesis_errors():
        result = worker.service.speak(speech_request)
    g.log.update(speech_log(speech_request, result))
    return result


def speech_log(speech_request: SpeechRequest, result: Speech) -> dict[str, Any]:
    """The request log's fields for one answered /api/tts (sizes, never the text)."""
    return {"text_chars": len(speech_request.text), "audio_s": round(result.duration_s, 3),
            "cache": result.cache, "sentences": result.sentences}


def engine_headers(worker: Worker) -> dict[str, str]:
    assert worker.engine is not None
    return {"X-Engine": worker.engine.name, "X-Device": worker.engine.device}


def audio_headers(worker: Worker, result: Speech) -> dict[str, str]:
    """Every header of a whole-audio answer but its length and request id."""
    return {"Content-Type": result.content_type, "X-Cache": result.cache,
            "X-Audio-Duration": f"{result.duration_s:.3f}", **engine_headers(worker)}


def audio_response(worker: Worker, result: Speech) -> Response:
    return Response(result.data, headers=audio_headers(worker, result))


def voices_of(worker: Worker) -> list[Any]:
    assert worker.engine is not None
    return worker.engine.voices()


@speech.post("/api/tts")
def tts_post() -> Response:
    worker = ready_worker()
    speech_request = parse_speech(json_object(), voices_of(worker), limits_of(worker))
    return audio_response(worker, speak(worker, speech_request))


@speech.get("/api/tts")
def tts_get() -> Response:
    worker = ready_worker()
    speech_request = parse_speech(request.args.to_dict(), voices_of(worker), limits_of(worker))
    return audio_response(worker, speak(worker, speech_request))


@speech.post("/api/tts_batch")
def tts_batch() -> Response:
    worker = ready_worker()
    voices = voices_of(worker)
    items, fmt, rate = parse_batch_envelope(json_object(), limits_of(worker),
                                            voices[0].sample_rate)
    done: dict[SpeechRequest, dict[str, Any]] = {}  # duplicates are synthesized once
    results = []
    for index, item in enumerate(items):
        try:
            speech_request = parse_batch_item(item, index, voices, limits_of(worker), fmt, rate)
            if speech_request not in done:
                result = speak(worker, speech_request)
                done[speech_request] = {
                    "ok": True,
                    "audio_base64": base64.b64encode(result.data).decode("ascii"),
                    "duration_s": round(result.duration_s, 3),
                    "cache": result.cache,
                }
            results.append({"index": index, **done[speech_request]})
        except errors.ServiceError as exc:
            results.append({"index": index, "ok": False, "error": {
                "code": exc.code, "status": exc.status, "message": exc.message}})
    g.log.update(items=len(items), failed=sum(not r["ok"] for r in results))
    return jsonify({"results": results, "format": fmt})


@speech.get("/api/voices")
def voices() -> Response:
    worker = ready_worker()
    return jsonify({"voices": [
        {"name": v.name, "language": v.language, "sample_rate": v.sample_rate,
         "engine": v.engine, "emotions": list(v.emotions), "default": i == 0}
        for i, v in enumerate(voices_of(worker))
    ]})


@speech.post("/api/frontend")
def frontend() -> Response:
    worker = ready_worker()
    assert worker.service is not None
    body = json_object()
    reject_unknown(body, ("text",))
    text = parse_text(body.get("text"), limits_of(worker))
    synthesizer = worker.service.synthesizer
    with synthesis_errors():  # the very pieces synthesis will say, from the same planner
        sentences = synthesizer.plan(text)
    return jsonify({
        "normalized": synthesizer.frontend.normalize(text),
        "sentences": [{"text": s.text, "pinyin": s.pinyin, "phones": s.phones,
                       "pause_s": s.pause_s} for s in sentences],
    })
