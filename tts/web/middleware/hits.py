"""Repeats of a POST /api/tts that this worker's memory tier holds, answered before Flask.

Repeated phrases are a large share of real traffic, and a hit should cost little more
than sending its bytes. Flask's request context, routing, response object and JSON
decoding cost a hit about as much again as the bytes themselves.

This layer sits inside the lifecycle (tts/web/middleware/lifecycle.py), which has
already given the request its id and clock and checked its key and rate limit, and
which counts, times and logs it whoever answers. It answers only the plainest case:
a JSON body of known length and at most `BODY_LIMIT` bytes, whose request was planned
before and whose whole audio tier 1 holds. Anything else (a request not planned
before, a miss, an error, a chunked or larger body, another content type or method)
goes on to Flask with the body put back, having cost at most a JSON parse here;
except that while the inference pool is saturated a request never planned before is
refused here (503), the cheapest point that still serves every hit. So
one place plans and synthesizes, decides what a request means and renders every
error; the answer here is built by the same functions as Flask's (its log line also
says `"shortcut": true`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

from tts.errors import TTSError
from tts.pool import Overloaded
from tts.recent import Recent
from tts.service import Speech, SpeechRequest
from tts.web import headers
from tts.web.context import decode_object, limits_of
from tts.web.exchange import EXCHANGE, Exchange
from tts.web.requests import parse_speech
from tts.web.responses import audio_headers, speech_log, voices_of
from tts.worker import Worker

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_LOGGER = logging.getLogger(__name__)

ROUTE = "/api/tts"
BODY_LIMIT = 4096  # bytes (~1,300 characters of UTF-8 Chinese); larger bodies go through Flask
PARSED_BODIES = 1024  # per worker, with their requests: under 10 MiB even at BODY_LIMIT


@lru_cache(maxsize=64)
def is_plain_json(content_type: str) -> bool:
    """`application/json`, parameters allowed, read by werkzeug's own parser: a subset
    of what Flask takes as JSON."""
    return parse_options_header(content_type)[0].lower() == "application/json"


class CachedHits:
    """WSGI middleware in front of Flask, inside the lifecycle (see the module docstring)."""

    def __init__(self, inner: WSGIApplication, worker: Worker, max_body: int | None) -> None:
        self.inner = inner
        self.worker = worker
        self.body_limit = min(BODY_LIMIT, max_body or BODY_LIMIT)
        self.parsed: Recent[bytes, SpeechRequest] = Recent(PARSED_BODIES)  # valid ones only

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.inner(environ, start_response)
        exchange: Exchange = environ[EXCHANGE]
        # Named now, so that no answer from here on (a refusal under overload above
        # all) makes the lifecycle look the route up in the URL map.
        exchange.route = ROUTE
        try:
            body = self._read_body(environ)
        except OSError:  # the client went away mid-body: Flask meets the same stream
            body = None
        try:
            found = None if body is None else self._find(body)
        except Overloaded:  # the cheapest refusal: before Flask and the front end
            raise
        except Exception:  # a fault here costs only the shortcut, never the request
            _LOGGER.exception("serving a cached hit failed; Flask answers instead")
            found = None
        if found is None:
            return self.inner(environ, start_response)
        speech_request, result = found
        exchange.whole_audio = True
        exchange.log.update(speech_log(speech_request, result), shortcut=True)
        start_response("200 OK", [*audio_headers(self.worker, result).items(),
                                  (headers.CONTENT_LENGTH, str(len(result.data)))])
        return [result.data]

    def _read_body(self, environ: WSGIEnvironment) -> bytes | None:
        """A small JSON body of known length, put back for Flask to read; else None."""
        if not is_plain_json(environ.get("CONTENT_TYPE", "")):
            return None
        length = get_content_length(environ)  # as werkzeug reads it: None when chunked
        if length is None or not 0 < length <= self.body_limit:
            return None
        body: bytes = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    def _find(self, body: bytes) -> tuple[SpeechRequest, Speech] | None:
        service = self.worker.service
        if not self.worker.warm or service is None:
            return None
        speech_request = self.parsed.get(body)
        if speech_request is None:
            speech_request = self._parse(body)
            if speech_request is None:
                return None
            self.parsed.put(body, speech_request)
        result = service.remembered(speech_request)
        if result is None:
            service.refuse_if_unplanned(speech_request)
            return None
        return speech_request, result

    def _parse(self, body: bytes) -> SpeechRequest | None:
        """What Flask's route makes of the same body (it is deterministic for a worker:
        voices and limits never change), or None wherever Flask would answer an error."""
        try:
            return parse_speech(decode_object(body), voices_of(self.worker),
                                limits_of(self.worker))
        except TTSError:
            return None
