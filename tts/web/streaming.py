"""Streamed synthesis over chunked HTTP: `POST /api/tts/stream`."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

from flask import Blueprint, Response, g

from tts.service import SpeechRequest, SpeechStream
from tts.web.context import json_object, limits_of, ready_worker, synthesis_errors
from tts.web.metrics import observe_first_audio
from tts.web.requests import parse_speech
from tts.web.speech import engine_headers, voices_of
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)

streaming = Blueprint("streaming", __name__)


def open_stream(worker: Worker, speech_request: SpeechRequest) -> tuple[SpeechStream,
                                                                         Iterator[bytes]]:
    """Start the stream and compute its first audio before any status is sent.

    Overload, deadlines and unspeakable text thus still become proper 4xx/5xx
    answers; after the first chunk, a failure can only end the stream early.
    """
    assert worker.service is not None
    with synthesis_errors():
        stream = worker.service.stream(speech_request)
        head = list(itertools.islice(stream.chunks, 2))
    observe_first_audio(time.perf_counter() - g.get("started", time.perf_counter()))
    return stream, itertools.chain(head, guarded(stream.chunks))


def guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass chunks on; a failure mid-stream is logged and ends the stream (status is sent)."""
    try:
        yield from chunks
    except Exception:
        _LOGGER.exception("stream ended early")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a client that went away stops synthesis of the rest


@streaming.post("/api/tts/stream")
def tts_stream() -> Response:
    worker = ready_worker()
    speech_request = parse_speech(json_object(), voices_of(worker), limits_of(worker))
    stream, body = open_stream(worker, speech_request)
    g.log.update(text_chars=len(speech_request.text), cache=stream.cache, streamed=True)
    response = Response(body, mimetype=stream.content_type)
    response.headers.update({"X-Cache": stream.cache, **engine_headers(worker)})
    if stream.duration_s is not None:
        response.headers["X-Audio-Duration"] = f"{stream.duration_s:.3f}"
    return response
