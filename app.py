"""The Flask app factory: the worker, the routes, and the one stack every request crosses.

gunicorn loads `app:create_app()` in each worker after fork (see
gunicorn.conf.py), so every worker builds its own engine and sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from config import Settings
from tts.web.context import exchange
from tts.web.error_map import error_response, from_http_exception, shape_for, to_tts_error
from tts.web.middleware import stack
from tts.web.middleware.auth import guard_from
from tts.web.middleware.hits import CachedHits
from tts.web.middleware.lifecycle import Lifecycle
from tts.web.middleware.mount import Mount
from tts.web.observability import metrics
from tts.web.routes import admin
from tts.web.routes.openai_compat import openai_compat
from tts.web.routes.ops import ops
from tts.web.routes.socketio import SOCKETIO_PREFIX, init_socketio
from tts.web.routes.speech import speech
from tts.web.routes.streaming import streaming
from tts.worker import Worker

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def create_app(settings: Settings | None = None, *, start: bool = True) -> Flask:
    """Build the app; with `start`, begin loading the engine in the background."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    worker = Worker(settings)
    app.extensions["tts"] = worker
    metrics.init_app(app)
    for blueprint in (speech, streaming, openai_compat, ops):
        app.register_blueprint(blueprint)
    admin.init_app(app, settings.admin_token)  # /admin/* only with a token
    app.register_error_handler(Exception, render_error)
    flask_wsgi = app.wsgi_app
    socketio_wsgi = init_socketio(app)

    def hits(inner: WSGIApplication) -> WSGIApplication:
        layer = app.extensions["hits"] = CachedHits(inner, worker, settings.max_body_bytes)
        return layer

    app.wsgi_app = stack(flask_wsgi, [  # type: ignore[assignment]
        # outermost: request id, clock, auth, metrics and log line, errors that escape
        lambda inner: Lifecycle(inner, app, guard_from(settings)),
        lambda inner: Mount(inner, SOCKETIO_PREFIX, socketio_wsgi),
        hits,  # tier-1 repeats of POST /api/tts, answered without Flask; all else goes on
    ])
    if start:
        worker.start()
    return app


def render_error(exc: Exception) -> Response:
    """Every error a route raises, in its surface's envelope, by the renderer the
    lifecycle uses too (tts/web/error_map.py)."""
    request_id = exchange().request_id
    if isinstance(exc, HTTPException):
        error = from_http_exception(exc, request.method, request.path,
                                    current_app.config["MAX_CONTENT_LENGTH"])
    else:
        error = to_tts_error(exc, request_id)
    return error_response(error, request_id, shape_for(request.path))
