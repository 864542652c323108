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


class StreamBody:
    """A stream's response body: the chunks made before the status was sent, then the rest.

    `close()` (called by the WSGI server when the client goes away or the response
    ends) closes the synthesis generator at once, even when iteration never got
    past the first chunks, so synthesis of the rest stops and the request's
    inference slot is freed then rather than whenever the generator is collected.
    """

    def __init__(self, head: list[bytes], rest: Iterator[bytes]) -> None:
        self._head = head
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        yield from self._head
        try:
            yield from self._rest
        except Exception:  # the status is sent: a failure can only end the stream early
            _LOGGER.exception("stream ended early")

    def close(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()


def open_stream(worker: Worker, speech_request: SpeechRequest) -> tuple[SpeechStream,
                                                                         StreamBody]:
    """Start the stream and compute its first audio before any status is sent.

    Overload, deadlines and unspeakable text thus still become proper 4xx/5xx
    answers; after the first chunk, a failure can only end the stream early.
    """
    assert worker.service is not None
    with synthesis_errors():
        stream = worker.service.stream(speech_request)
        head = list(itertools.islice(stream.chunks, 2))
    observe_first_audio(time.perf_counter() - g.get("started", time.perf_counter()))
    return stream, StreamBody(head, stream.chunks)


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
