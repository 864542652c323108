"""Synthesis routes: single (GET and POST), batch, voices, and the front-end check."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, jsonify, request

from tts import subtitles
from tts.service import SpeechRequest
from tts.web import headers
from tts.web.context import exchange, json_object, limits_of, ready_worker
from tts.web.error_map import SERVICE_FAILURES, Shape, envelope, to_tts_error
from tts.web.requests import (
    parse_batch_envelope,
    parse_batch_item,
    parse_speech,
    parse_subtitles,
    parse_text,
    reject_unknown,
)
from tts.web.responses import audio_response, speak, speech_body, timed_response, voices_of

speech = Blueprint("speech", __name__)


@speech.post("/api/tts")
def tts_post() -> Response:
    worker = ready_worker()
    speech_request, timed = speech_body(worker)
    result = speak(worker, speech_request, timed=timed)
    if timed:
        return timed_response(worker, speech_request, result)
    return audio_response(worker, result)


@speech.post("/api/tts/subtitles")
def tts_subtitles() -> Response:
    """Cues timed from the same cache entry `/api/tts` answers the same body with."""
    worker = ready_worker()
    assert worker.service is not None
    speech_request, fmt, max_chars = parse_subtitles(json_object(), voices_of(worker),
                                                     limits_of(worker))
    result = speak(worker, speech_request, timed=True)
    aligner = worker.service.alignment(speech_request, result.timing)
    document = subtitles.render(subtitles.cues(aligner, max_chars), fmt)
    response = Response(document, mimetype=subtitles.CONTENT_TYPES[fmt])
    response.headers.update({headers.CACHE: result.cache,
                             headers.AUDIO_DURATION: f"{result.duration_s:.3f}"})
    return response


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
    request_id = exchange().request_id
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
        except SERVICE_FAILURES as exc:
            error = envelope(to_tts_error(exc, request_id), request_id, Shape.BATCH_ITEM)
            results.append({"index": index, "ok": False, "error": error})
    exchange().log.update(items=len(items), failed=sum(not r["ok"] for r in results))
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
    sentences = synthesizer.plan(text)  # the very pieces synthesis will say, same planner
    return jsonify({
        "normalized": synthesizer.frontend.normalize(text),
        "sentences": [{"text": s.text, "pinyin": s.pinyin, "phones": s.phones,
                       "pause_s": s.pause_s, "tight_start": s.tight_start,
                       "tight_end": s.tight_end} for s in sentences],
    })
