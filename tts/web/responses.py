"""Speech answers shared by the routes and the tier-1 hit layer: synthesis calls,
audio headers and streamed bodies. Not a route module, so any route may import it."""

from __future__ import annotations

import base64
import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from flask import Response, jsonify

from tts.engines.base import VoiceInfo
from tts.service import Speech, SpeechRequest, SpeechStream, StreamItem
from tts.web import headers
from tts.web.context import exchange, json_object, limits_of
from tts.web.observability.metrics import observe_first_audio
from tts.web.requests import parse_speech, take_timestamps
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


def voices_of(worker: Worker) -> list[VoiceInfo]:
    assert worker.engine is not None
    return worker.engine.voices()


def speech_body(worker: Worker) -> tuple[SpeechRequest, bool]:
    """This request's JSON body as `/api/tts` and its stream read it: the speech
    request, and whether timestamps were asked for."""
    fields, timed = take_timestamps(json_object())
    return parse_speech(fields, voices_of(worker), limits_of(worker)), timed


def speak(worker: Worker, speech_request: SpeechRequest, *, timed: bool = False) -> Speech:
    """Synthesize (or fetch from cache) and note what happened for the request log."""
    assert worker.service is not None
    result = worker.service.speak(speech_request, timed=timed)
    exchange().log.update(speech_log(speech_request, result))
    return result


def speech_log(speech_request: SpeechRequest, result: Speech) -> dict[str, Any]:
    """The request log's fields for one answered /api/tts (sizes, never the text)."""
    return {"text_chars": len(speech_request.text), "audio_s": round(result.duration_s, 3),
            "cache": result.cache, "sentences": result.sentences}


def engine_headers(worker: Worker) -> dict[str, str]:
    assert worker.engine is not None
    return {headers.ENGINE: worker.engine.name, headers.DEVICE: worker.engine.device}


def audio_headers(worker: Worker, result: Speech) -> dict[str, str]:
    """Every header of a whole-audio answer but its length and request id."""
    return {headers.CONTENT_TYPE: result.content_type, headers.CACHE: result.cache,
            headers.AUDIO_DURATION: f"{result.duration_s:.3f}", **engine_headers(worker)}


def audio_response(worker: Worker, result: Speech) -> Response:
    exchange().whole_audio = True
    return Response(result.data, headers=audio_headers(worker, result))


def timed_response(worker: Worker, speech_request: SpeechRequest, result: Speech) -> Response:
    """`/api/tts` with timestamps: the audio in base64 beside when each part of the
    caller's text is said."""
    assert worker.service is not None
    aligner = worker.service.alignment(speech_request, result.timing)
    body = {"audio": base64.b64encode(result.data).decode("ascii"), "format": speech_request.fmt,
            "sample_rate": speech_request.sample_rate, "duration": round(result.duration_s, 3),
            "alignment": [aligner.entry(u) for u in aligner.units],
            "sentences": [aligner.entry(p) for p in aligner.passes]}
    response = jsonify(body)
    response.headers.update({headers.CACHE: result.cache,
                             headers.AUDIO_DURATION: f"{result.duration_s:.3f}",
                             **engine_headers(worker)})
    return response


class StreamBody(Generic[T]):
    """A stream's response body: the chunks made before the status was sent, then the rest.

    `close()` (called by the WSGI server when the client goes away or the response
    ends) closes the synthesis generator at once, even when iteration never got
    past the first chunks, so synthesis of the rest stops and the request's
    inference slot is freed then rather than whenever the generator is collected.
    """

    def __init__(self, head: list[T], rest: Iterator[T]) -> None:
        self._head = head
        self._rest = rest

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        try:
            yield from self._rest
        except Exception:  # the status is sent: a failure can only end the stream early
            _LOGGER.exception("stream ended early")

    def close(self) -> None:
        close = getattr(self._rest, "close", None)  # any iterator; generators have close
        if close is not None:
            close()


def open_stream(worker: Worker, speech_request: SpeechRequest, started: float) -> (
        tuple[SpeechStream[bytes], StreamBody[bytes]]):
    """Start the stream and compute its first audio before any status is sent.

    Overload, deadlines and unspeakable text thus still become proper 4xx/5xx
    answers; after the first chunk, a failure can only end the stream early.
    `started` is when the request began, for the time to first audio.
    """
    assert worker.service is not None
    stream = worker.service.stream(speech_request)
    head = list(itertools.islice(stream.chunks, 2))
    observe_first_audio(time.perf_counter() - started)
    return stream, StreamBody(head, stream.chunks)


def open_timed_stream(worker: Worker, speech_request: SpeechRequest, started: float) -> (
        tuple[SpeechStream[StreamItem], StreamBody[StreamItem]]):
    """`open_stream` with timestamps: the items up to the first audio are computed
    before any status is sent (the first pass's entries come before its audio)."""
    assert worker.service is not None
    stream = worker.service.stream_timed(speech_request)
    head: list[StreamItem] = []
    audio = 0
    for item in stream.chunks:
        head.append(item)
        audio += isinstance(item, bytes)
        if audio == 2:  # the header, then the first audio
            break
    observe_first_audio(time.perf_counter() - started)
    return stream, StreamBody(head, stream.chunks)
