"""OpenAI-compatible routes: `POST /v1/audio/speech` and `GET /v1/models`.

The official `openai` SDK works unchanged with `base_url` pointed here. Errors on
these paths are rendered in OpenAI's shape ({"error": {message, type, param, code,
request_id}}, tts/web/error_map.py) so the SDK raises its usual exceptions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator

from flask import Blueprint, Response, jsonify

from tts.web import headers
from tts.web.context import exchange, json_object, limits_of, ready_worker
from tts.web.openai_requests import model_ids, parse_openai
from tts.web.responses import engine_headers, open_stream, voices_of

openai_compat = Blueprint("openai", __name__)


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
    request, stream_format = parse_openai(json_object(), voices_of(worker), worker.engine.name,
                                          limits_of(worker))
    current = exchange()
    stream, chunks = open_stream(worker, request, current.started)
    current.log.update(text_chars=len(request.text), cache=stream.cache, streamed=True,
                       openai=stream_format)
    answer_headers = {headers.CACHE: stream.cache, **engine_headers(worker)}
    if stream_format == "sse":
        events = Response(sse_events(chunks, len(request.text)), mimetype="text/event-stream",
                          headers=answer_headers)
        events.call_on_close(chunks.close)  # the events generator may never have started
        return events
    return Response(chunks, mimetype=stream.content_type, headers=answer_headers)


@openai_compat.get("/v1/models")
def models() -> Response:
    worker = ready_worker()
    assert worker.engine is not None
    return jsonify({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "mandarin-tts"}
        for name in model_ids(worker.engine.name)
    ]})

