"""Repeats of a POST /api/tts that this worker's memory tier holds, answered before Flask.

Repeated phrases are a large share of real traffic, and a hit should cost little more
than sending its bytes. Through Flask a tier-1 hit cost a worker about 1,000 us of CPU,
twice what a bare Flask app returning the same bytes needs (513 us): the request
context, routing, hooks and response object, the JSON decoding and the checks. Answered
here it costs 582 us (bench/results/cached_ab_pinned.md).

This layer answers only the plainest case: a JSON body of at most `BODY_LIMIT` bytes,
read once and remembered with the request it parsed to, whose whole audio tier 1 holds.
Everything else (an error, a miss, a query string, a chunked or larger body, a worker
still warming up) goes on to Flask untouched, with the body put back, so one place
decides what a request means and renders every error. What this layer sends is what
Flask would have sent: the same parsing, key and rate-limit check, headers, metrics
and log line, from the same functions.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import Flask

from tts.service import Speech, SpeechRequest
from tts.synthesizer import PLAN_CACHE_SIZE
from tts.web import errors
from tts.web.auth import GUARD_PASSED, guard_of
from tts.web.context import limits_of
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


def is_plain_json(content_type: str) -> bool:
    """`application/json`, parameters allowed: a subset of what Flask takes as JSON."""
    return content_type.partition(";")[0].strip().lower() == "application/json"


class CachedHits:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app: Flask, flask_wsgi: WSGIApplication) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi
        self.worker: Worker = app.extensions["tts"]
        self.guard = guard_of(app)
        self.body_limit = min(BODY_LIMIT, app.config["MAX_CONTENT_LENGTH"] or BODY_LIMIT)
        # Bodies seen before: raw bytes -> their request, or None for "let Flask say why".
        # At most PLAN_CACHE_SIZE bodies of BODY_LIMIT bytes: 16 MiB in the worst case.
        self.parsed = lru_cache(maxsize=PLAN_CACHE_SIZE)(self._parse)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        body = self._read_body(environ)
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
                       fields=speech_log(speech_request, result))
        return [result.data]

    def _read_body(self, environ: WSGIEnvironment) -> bytes | None:
        """A small JSON body of known length, put back for Flask to read; else None."""
        if not is_plain_json(environ.get("CONTENT_TYPE", "")):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= self.body_limit:
            return None
        body: bytes = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    def _find(self, environ: WSGIEnvironment, body: bytes) -> (
            tuple[SpeechRequest, Speech] | None):
        service = self.worker.service
        if not self.worker.warm or service is None:
            return None
        speech_request = self.parsed(body)
        if speech_request is None:
            return None
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
            fields: Any = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(fields, dict):
            return None
        try:
            return parse_speech(fields, voices_of(self.worker), limits_of(self.worker))
        except errors.ServiceError:
            return None
