"""Streamed synthesis: `POST /api/tts/stream`, as chunked audio, or with timestamps as
server-sent events (`audio`, `alignment` before the audio it describes, `done`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator

from flask import Blueprint, Response

from tts.service import Finished, SpeechRequest, StreamItem
from tts.web import headers
from tts.web.context import exchange, ready_worker
from tts.web.responses import engine_headers, open_stream, open_timed_stream, speech_body
from tts.worker import Worker

streaming = Blueprint("streaming", __name__)


@streaming.post("/api/tts/stream")
def tts_stream() -> Response:
    worker = ready_worker()
    speech_request, timed = speech_body(worker)
    current = exchange()
    if timed:
        return events_response(worker, speech_request)
    stream, body = open_stream(worker, speech_request, current.started)
    current.log.update(text_chars=len(speech_request.text), cache=stream.cache, streamed=True)
    response = Response(body, mimetype=stream.content_type)
    response.headers.update({headers.CACHE: stream.cache, **engine_headers(worker)})
    if stream.duration_s is not None:
        response.headers[headers.AUDIO_DURATION] = f"{stream.duration_s:.3f}"
    return response


def events_response(worker: Worker, speech_request: SpeechRequest) -> Response:
    current = exchange()
    stream, body = open_timed_stream(worker, speech_request, current.started)
    current.log.update(text_chars=len(speech_request.text), cache=stream.cache, streamed=True)
    response = Response(server_sent_events(body), mimetype="text/event-stream")
    response.headers.update({headers.CACHE: stream.cache, "Cache-Control": "no-cache",
                             **engine_headers(worker)})
    return response


def server_sent_events(items: Iterable[StreamItem]) -> Iterator[bytes]:
    seq = 0
    for item in items:
        if isinstance(item, Finished):
            yield _event("done", {"duration": round(item.duration_s, 3)})
        elif isinstance(item, bytes):
            if item:
                yield _event("audio", {"seq": seq, "chunk": base64.b64encode(item).decode()})
                seq += 1
        elif item:
            yield _event("alignment", {"units": item})


def _event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
