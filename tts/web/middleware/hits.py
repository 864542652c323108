"""Repeats of a POST /api/tts that this worker's memory tier holds, answered before Flask.

Repeated phrases are a large share of real traffic, and a hit should cost little more
than sending its bytes. Through Flask a tier-1 hit cost a worker about 1,000 us of CPU,
twice what a bare Flask app returning the same bytes needs (515 us): the request
context, routing, hooks and response object, the JSON decoding and the checks. Answered
here it costs about 620 us (bench/results/cached_ab_pinned.md).

This layer answers only the plainest case: a JSON body of known length and at most
`BODY_LIMIT` bytes, whose request was planned before and whose whole audio tier 1
holds. Anything else (a request not planned before, a miss, an error, a chunked or
larger body, another content type or method) goes on to Flask with the body put back,
having cost at most a JSON parse here. So one place plans and synthesizes, decides what
a request means and renders every error. What this layer sends is what Flask would
have sent: the same parsing, key and rate-limit check, headers, metrics and log line,
from the same functions (the log line also says `"shortcut": true`).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

from tts.recent import Recent
from tts.service import Speech, SpeechRequest
from tts.web import errors
from tts.web.auth import GUARD_PASSED, guard_of
from tts.web.context import decode_object, limits_of
from tts.web.logs import REQUEST_ID_HEADER, request_id_from
from tts.web.observe import record_request
from tts.web.requests import parse_speech
from tts.web.speech import audio_headers, speech_log, voices_of
from tts.worker import Worker

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_LOGGER = logging.getLogger(__name__)

ROUTE = "/api/tts"
BODY_LIMIT = 4096  # bytes (~1,300 characters of UTF-8 Chinese); larger bodies go through Flask
PARSED_BODIES = 1024  # per worker, with their requests: under 10 MiB even at BODY_LIMIT
STARTED = "tts.started"  # environ: when this layer saw the request, so Flask times all of it


@lru_cache(maxsize=64)
def is_plain_json(content_type: str) -> bool:
    """`application/json`, parameters allowed, read by werkzeug's own parser: a subset
    of what Flask takes as JSON."""
    return parse_options_header(content_type)[0].lower() == "application/json"


class CachedHits:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApplication) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi
        self.worker: Worker = app.extensions["tts"]
        self.guard = guard_of(app)
        self.body_limit = min(BODY_LIMIT, app.config["MAX_CONTENT_LENGTH"] or BODY_LIMIT)
        self.parsed: Recent[bytes, SpeechRequest] = Recent(PARSED_BODIES)  # valid ones only

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        started = environ[STARTED] = time.perf_counter()
        try:
            body = self._read_body(environ)
        except OSError:  # the client went away mid-body: Flask meets the same stream
            body = None
        try:
            found = None if body is None else self._find(environ, body)
        except Exception:  # a fault here costs only the shortcut, never the request
            _LOGGER.exception("serving a cached hit failed; Flask answers instead")
            found = None
        if found is None:
            return self.flask_wsgi(environ, start_response)
        speech_request, result = found
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response("200 OK", [*audio_headers(self.worker, result).items(),
                                  ("Content-Length", str(len(result.data))),
                                  (REQUEST_ID_HEADER, request_id)])
        record_request(self.app, request_id=request_id, method="POST", route=ROUTE, path=ROUTE,
                       status=200, elapsed_s=time.perf_counter() - started, whole_audio=True,
                       fields={**speech_log(speech_request, result), "shortcut": True})
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

    def _find(self, environ: WSGIEnvironment, body: bytes) -> (
            tuple[SpeechRequest, Speech] | None):
        service = self.worker.service
        if not self.worker.warm or service is None:
            return None
        speech_request = self.parsed.get(body)
        if speech_request is None:
            speech_request = self._parse(body)
            if speech_request is None:
                return None
            self.parsed.put(body, speech_request)
        if self.guard is not None:
            try:
                self.guard.check(ROUTE, environ.get("REMOTE_ADDR"),
                                 environ.get("HTTP_AUTHORIZATION"))
            except errors.ServiceError:
                return None  # Flask's own check refuses it with the proper answer
            environ[GUARD_PASSED] = True  # a miss goes on to Flask, not charged twice
        result = service.remembered(speech_request)
        return None if result is None else (speech_request, result)

    def _parse(self, body: bytes) -> SpeechRequest | None:
        """What Flask's route makes of the same body (it is deterministic for a worker:
        voices and limits never change), or None wherever Flask would answer an error."""
        try:
            return parse_speech(decode_object(body), voices_of(self.worker),
                                limits_of(self.worker))
        except errors.ServiceError:
            return None
