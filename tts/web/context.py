"""Per-request helpers shared by every route module: the worker, JSON bodies, failures."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, request

from tts.engines.base import EngineError
from tts.frontend import NothingToSay, SsmlError, SsmlTooLarge
from tts.pool import DeadlineExceeded, Overloaded
from tts.web import errors
from tts.web.requests import Limits
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)

RETRY_AFTER_S = 1


def worker_of() -> Worker:
    worker: Worker = current_app.extensions["tts"]
    return worker


def ready_worker() -> Worker:
    """The worker, if it can synthesize now; otherwise a 503 with Retry-After.

    A draining worker still serves what reaches it: its /readyz already says 503,
    so the load balancer stops sending, and requests already on their way (or on
    a kept-alive connection) are not lost.
    """
    worker = worker_of()
    if not worker.warm:
        raise errors.Unavailable("the engine is still warming up", retry_after=RETRY_AFTER_S)
    return worker


def limits_of(worker: Worker) -> Limits:
    return Limits(worker.settings.max_text_chars, worker.settings.max_batch_items)


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or the right 4xx."""
    if not request.is_json:
        raise errors.UnsupportedMediaType("send the body as JSON with Content-Type: "
                                          "application/json")
    return decode_object(request.get_data())


def decode_object(raw: bytes) -> dict[str, Any]:
    """A body's bytes as a JSON object (UTF-8/16/32, as Flask reads JSON), or the 400
    that says what is wrong with it."""
    try:
        body = json.loads(raw)
    except RecursionError as exc:  # the stdlib decoder recurses once per nesting level
        raise errors.BadRequest("the body is not valid JSON: nested too deeply") from exc
    except ValueError:
        body = None
    if body is None:
        raise errors.BadRequest("the body is not valid JSON")
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object")
    return body


@contextmanager
def synthesis_errors() -> Iterator[None]:
    """Map what synthesis can raise to the service's HTTP errors."""
    try:
        yield
    except NothingToSay as exc:
        raise errors.Unspeakable(f"text has nothing speakable: {exc}") from exc
    except SsmlTooLarge as exc:
        raise errors.PayloadTooLarge(str(exc)) from exc
    except SsmlError as exc:
        raise errors.BadRequest(str(exc)) from exc
    except Overloaded as exc:
        raise errors.Unavailable(f"overloaded: {exc}; retry shortly",
                                 retry_after=RETRY_AFTER_S) from exc
    except DeadlineExceeded as exc:
        raise errors.Unavailable(f"deadline exceeded: {exc}", retry_after=RETRY_AFTER_S) from exc
    except EngineError as exc:
        _LOGGER.exception("engine failure")
        raise errors.ServiceError(f"synthesis failed: {exc}") from exc
