"""The Flask app factory: blueprints, the error envelope, request ids and request logs.

gunicorn loads `app:create_app()` in each worker after fork (see
gunicorn.conf.py), so every worker builds its own engine and sessions.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from config import Settings
from tts.web import admin, auth, errors, metrics
from tts.web.hits import STARTED, CachedHits
from tts.web.logs import REQUEST_ID_HEADER, request_id_from
from tts.web.observe import record_request
from tts.web.openai_compat import openai_compat
from tts.web.ops import ops
from tts.web.socketio import init_socketio
from tts.web.speech import speech
from tts.web.streaming import streaming
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, start: bool = True) -> Flask:
    """Build the app; with `start`, begin loading the engine in the background."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    worker = Worker(settings)
    app.extensions["tts"] = worker
    register_hooks(app)
    metrics.init_app(app)  # /metrics; requests are counted and timed by record_request
    auth.init_app(app, settings)  # API keys and rate limits on /api/*, /v1/*
    admin.init_app(app, settings.admin_token)  # /admin/* only with a token
    app.register_blueprint(speech)
    app.register_blueprint(ops)
    app.register_blueprint(streaming)
    app.register_blueprint(openai_compat)
    init_socketio(app)
    app.wsgi_app = CachedHits(app, app.wsgi_app)  # type: ignore[method-assign]
    if start:
        worker.start()
    return app


# ---------------------------------------------------------------- hooks and errors


def register_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        g.started = request.environ.get(STARTED) or time.perf_counter()  # see tts/web/hits
        g.log = {}

    @app.after_request
    def finish_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        request_id = g.get("request_id", "")
        rule = request.url_rule
        response.headers[REQUEST_ID_HEADER] = request_id
        status = response.status_code
        record_request(app, request_id=request_id, method=request.method,
                       route=rule.rule if rule else None, path=request.path, status=status,
                       elapsed_s=elapsed, fields=g.get("log", {}),
                       whole_audio=(status == 200 and not response.is_streamed
                                    and "X-Audio-Duration" in response.headers))
        return response

    @app.errorhandler(errors.ServiceError)
    def service_error(exc: errors.ServiceError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, exc.retry_after)
        if exc.challenge is not None:
            response.headers["WWW-Authenticate"] = exc.challenge
        return response

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
