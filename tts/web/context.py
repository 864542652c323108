"""Per-request helpers shared by every route module: the worker, the exchange, JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from tts.errors import BadRequest, Unavailable, UnsupportedMediaType
from tts.web.exchange import EXCHANGE, Exchange
from tts.web.requests import Limits
from tts.worker import Worker


def worker_of() -> Worker:
    worker: Worker = current_app.extensions["tts"]
    return worker


def exchange() -> Exchange:
    """This request's record in the lifecycle (tts.web.middleware.lifecycle)."""
    current: Exchange = request.environ[EXCHANGE]
    return current


def ready_worker() -> Worker:
    """The worker, if it can synthesize now; otherwise a 503 with Retry-After.

    A draining worker still serves what reaches it: its /readyz already says 503,
    so the load balancer stops sending, and requests already on their way (or on
    a kept-alive connection) are not lost.
    """
    worker = worker_of()
    if not worker.warm:
        raise Unavailable("the engine is still warming up")
    return worker


def limits_of(worker: Worker) -> Limits:
    return Limits(worker.settings.max_text_chars, worker.settings.max_batch_items)


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or the right 4xx."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    return decode_object(request.get_data())


def decode_object(raw: bytes) -> dict[str, Any]:
    """A body's bytes as a JSON object (UTF-8/16/32, as Flask reads JSON), or the 400
    that says what is wrong with it."""
    try:
        body = json.loads(raw)
    except RecursionError as exc:  # the stdlib decoder recurses once per nesting level
        raise BadRequest("the body is not valid JSON: nested too deeply") from exc
    except ValueError:
        body = None
    if body is None:
        raise BadRequest("the body is not valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
