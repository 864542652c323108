"""Streamed synthesis over chunked HTTP: `POST /api/tts/stream`."""

from __future__ import annotations

from flask import Blueprint, Response

from tts.web import headers
from tts.web.context import exchange, json_object, limits_of, ready_worker
from tts.web.requests import parse_speech
from tts.web.responses import engine_headers, open_stream, voices_of

streaming = Blueprint("streaming", __name__)


@streaming.post("/api/tts/stream")
def tts_stream() -> Response:
    worker = ready_worker()
    speech_request = parse_speech(json_object(), voices_of(worker), limits_of(worker))
    current = exchange()
    stream, body = open_stream(worker, speech_request, current.started)
    current.log.update(text_chars=len(speech_request.text), cache=stream.cache, streamed=True)
    response = Response(body, mimetype=stream.content_type)
    response.headers.update({headers.CACHE: stream.cache, **engine_headers(worker)})
    if stream.duration_s is not None:
        response.headers[headers.AUDIO_DURATION] = f"{stream.duration_s:.3f}"
    return response
