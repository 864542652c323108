"""The Flask app: routes, the error envelope, request ids and request logs.

gunicorn loads `app:create_app()` in each worker after fork (see
gunicorn.conf.py), so every worker builds its own engine and sessions.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from config import Settings
from tts.engines.base import EngineError
from tts.frontend import NothingToSay
from tts.pool import DeadlineExceeded, Overloaded
from tts.service import Speech, SpeechRequest
from tts.web import errors
from tts.web.logs import log_request
from tts.web.openapi import openapi_document
from tts.web.requests import (
    Limits,
    parse_batch_envelope,
    parse_batch_item,
    parse_speech,
    parse_text,
    reject_unknown,
)
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
RETRY_AFTER_S = 1


def create_app(settings: Settings | None = None, *, start: bool = True) -> Flask:
    """Build the app; with `start`, begin loading the engine in the background."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    worker = Worker(settings)
    app.extensions["tts"] = worker
    register_hooks(app)
    register_routes(app)
    if start:
        worker.start()
    return app


def worker_of() -> Worker:
    worker: Worker = current_app.extensions["tts"]
    return worker


def ready_worker() -> Worker:
    worker = worker_of()
    if worker.draining:
        raise errors.Unavailable("this worker is shutting down", retry_after=RETRY_AFTER_S)
    if not worker.ready:
        raise errors.Unavailable("the engine is still warming up", retry_after=RETRY_AFTER_S)
    return worker


def limits_of(worker: Worker) -> Limits:
    return Limits(worker.settings.max_text_chars, worker.settings.max_batch_items)


# ---------------------------------------------------------------- hooks and errors


def register_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming[:128] if incoming.isprintable() and incoming else uuid.uuid4().hex
        g.started = time.perf_counter()
        g.log = {}

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        log_request(
            request_id=g.get("request_id"),
            method=request.method,
            route=request.url_rule.rule if request.url_rule else request.path[:100],
            status=response.status_code,
            ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
            **g.get("log", {}),
        )
        return response

    @app.errorhandler(errors.ServiceError)
    def service_error(exc: errors.ServiceError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.retry_after)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        cls = errors.BY_STATUS.get(status, errors.ServiceError)
        message = {
            404: f"no route {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
            413: f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes",
        }.get(status, exc.description or cls.code)
        return error_response(status, cls.code, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        _LOGGER.exception("unhandled error (request %s)", g.get("request_id"))
        return error_response(500, "internal", "internal error; it has been logged")


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> (
        Response):
    response = jsonify(
        {"error": {"code": code, "message": message, "request_id": g.get("request_id", "")}}
    )
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or the right 4xx."""
    if not request.is_json:
        raise errors.UnsupportedMediaType("send the body as JSON with Content-Type: "
                                          "application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError as exc:  # the stdlib decoder recurses once per nesting level
        raise errors.BadRequest("the body is not valid JSON: nested too deeply") from exc
    if body is None:
        raise errors.BadRequest("the body is not valid JSON")
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object")
    return body


# ---------------------------------------------------------------- synthesis


def speak(worker: Worker, speech_request: SpeechRequest) -> Speech:
    """Synthesize (or fetch from cache), mapping engine-side failures to HTTP errors."""
    assert worker.service is not None
    try:
        speech = worker.service.speak(speech_request)
    except NothingToSay as exc:
        raise errors.Unspeakable(f"text has nothing speakable: {exc}") from exc
    except Overloaded as exc:
        raise errors.Unavailable(f"overloaded: {exc}; retry shortly",
                                 retry_after=RETRY_AFTER_S) from exc
    except DeadlineExceeded as exc:
        raise errors.Unavailable(f"deadline exceeded: {exc}", retry_after=RETRY_AFTER_S) from exc
    except EngineError as exc:
        _LOGGER.exception("engine failure")
        raise errors.ServiceError(f"synthesis failed: {exc}") from exc
    g.log.update(text_chars=len(speech_request.text), audio_s=round(speech.duration_s, 3),
                 cache=speech.cache, sentences=speech.sentences)
    return speech


def audio_response(worker: Worker, speech: Speech) -> Response:
    assert worker.engine is not None
    response = Response(speech.data, mimetype=speech.content_type)
    response.headers.update({
        "X-Cache": speech.cache,
        "X-Audio-Duration": f"{speech.duration_s:.3f}",
        "X-Engine": worker.engine.name,
        "X-Device": worker.engine.device,
    })
    return response


def register_routes(app: Flask) -> None:
    @app.post("/api/tts")
    def tts_post() -> Response:
        worker = ready_worker()
        assert worker.engine is not None
        speech_request = parse_speech(json_object(), worker.engine.voices(), limits_of(worker))
        return audio_response(worker, speak(worker, speech_request))

    @app.get("/api/tts")
    def tts_get() -> Response:
        worker = ready_worker()
        assert worker.engine is not None
        speech_request = parse_speech(request.args.to_dict(), worker.engine.voices(),
                                      limits_of(worker))
        return audio_response(worker, speak(worker, speech_request))

    @app.post("/api/tts_batch")
    def tts_batch() -> Response:
        worker = ready_worker()
        assert worker.engine is not None
        voices = worker.engine.voices()
        items, fmt, rate = parse_batch_envelope(json_object(), limits_of(worker),
                                                voices[0].sample_rate)
        done: dict[SpeechRequest, dict[str, Any]] = {}  # duplicates are synthesized once
        results = []
        for index, item in enumerate(items):
            try:
                speech_request = parse_batch_item(item, index, voices, limits_of(worker), fmt,
                                                  rate)
                if speech_request not in done:
                    speech = speak(worker, speech_request)
                    done[speech_request] = {
                        "ok": True,
                        "audio_base64": base64.b64encode(speech.data).decode("ascii"),
                        "duration_s": round(speech.duration_s, 3),
                        "cache": speech.cache,
                    }
                results.append({"index": index, **done[speech_request]})
            except errors.ServiceError as exc:
                results.append({"index": index, "ok": False, "error": {
                    "code": exc.code, "status": exc.status, "message": exc.message}})
        g.log.update(items=len(items), failed=sum(not r["ok"] for r in results))
        return jsonify({"results": results, "format": fmt})

    @app.get("/api/voices")
    def voices() -> Response:
        worker = ready_worker()
        assert worker.engine is not None
        return jsonify({"voices": [
            {"name": v.name, "language": v.language, "sample_rate": v.sample_rate,
             "engine": v.engine, "emotions": list(v.emotions), "default": i == 0}
            for i, v in enumerate(worker.engine.voices())
        ]})

    @app.post("/api/frontend")
    def frontend() -> Response:
        worker = ready_worker()
        assert worker.service is not None
        body = json_object()
        reject_unknown(body, ("text",))
        text = parse_text(body.get("text"), limits_of(worker))
        front = worker.service.synthesizer.frontend
        try:
            sentences = front.analyze(text)
        except NothingToSay as exc:
            raise errors.Unspeakable(f"text has nothing speakable: {exc}") from exc
        return jsonify({
            "normalized": front.normalize(text),
            "sentences": [{"text": s.text, "pinyin": s.pinyin, "phones": s.phones}
                          for s in sentences],
        })

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        worker = worker_of()
        engine = worker.engine
        body = {
            "ready": worker.ready,
            "draining": worker.draining,
            "engine": engine.name if engine else worker.settings.engine,
            "device": engine.device if engine else None,
            "degraded": False,
            "warm_up_s": worker.warm_up_s,
            "error": worker.error,
            "cache": worker.cache.state(),
            "queue": {"in_flight": worker.pool.in_flight, "queued": worker.pool.queued,
                      "capacity": worker.pool.capacity},
        }
        response = jsonify(body)
        response.status_code = 200 if worker.ready else 503
        return response

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(worker_of().settings))
