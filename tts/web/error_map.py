"""One map from anything a request can raise to `tts.errors`, and one renderer of envelopes.

The map is data (`DOMAIN_ERRORS`): what the front end, the pool and the engine raise
stays free of HTTP, and the first entry along an exception's class hierarchy decides
its status, code and message. `envelope` renders a `TTSError` in each shape a caller
expects, each with the request id:

    native      {"error": {code, message, request_id}}                 /api/*, probes, admin
    openai      {"error": {message, type, param, code, request_id}}    /v1/*
    socketio    {"error": {code, message, status, request_id}}         the `error` event
    batch_item  {code, status, message, request_id}                    one /api/tts_batch item
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

from tts.engines.base import EngineError
from tts.errors import BY_STATUS, BadRequest, PayloadTooLarge, TTSError, Unavailable, Unspeakable
from tts.frontend import NothingToSay, SsmlError, SsmlTooLarge
from tts.pool import DeadlineExceeded, Overloaded
from tts.web import headers

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mapped:
    """How one kind of lower-layer failure is answered."""

    error: type[TTSError]
    message: str  # `{}` is the original message
    param: str | None = None  # the request field at fault
    log: bool = False  # a fault of ours, not of the request: keep its traceback


DOMAIN_ERRORS: dict[type[Exception], Mapped] = {
    NothingToSay: Mapped(Unspeakable, "text has nothing speakable: {}", "text"),
    SsmlTooLarge: Mapped(PayloadTooLarge, "{}", "text"),
    SsmlError: Mapped(BadRequest, "{}", "text"),
    Overloaded: Mapped(Unavailable, "overloaded: {}; retry shortly"),
    DeadlineExceeded: Mapped(Unavailable, "deadline exceeded: {}"),
    EngineError: Mapped(TTSError, "synthesis failed: {}", log=True),
}

# What a handler that answers per item (batch, Socket.IO) catches: everything the map
# knows. Anything else is a bug and goes on to the request's own 500.
SERVICE_FAILURES: tuple[type[Exception], ...] = (TTSError, *DOMAIN_ERRORS)

HTTP_MESSAGES = {  # werkzeug's own texts name no path or limit
    404: "no route {path}",
    405: "method {method} is not allowed on {path}",
    413: "request body is larger than {max_body} bytes",
}

OPENAI_PARAMS = {"text": "input"}  # our field names as OpenAI's request calls them


class Shape(Enum):
    NATIVE = "native"
    OPENAI = "openai"
    SOCKETIO = "socketio"
    BATCH_ITEM = "batch_item"


def to_tts_error(exc: BaseException, request_id: str = "") -> TTSError:
    """The service error `exc` is answered with; an unknown one is logged as a bug."""
    if isinstance(exc, TTSError):
        return exc
    for cls in type(exc).__mro__:
        mapped = DOMAIN_ERRORS.get(cls)
        if mapped is not None:
            if mapped.log:
                _LOGGER.exception("%s (request %s)", mapped.message.format(exc), request_id)
            error = mapped.error(mapped.message.format(exc), param=mapped.param)
            if isinstance(exc, Overloaded):  # the pool knows when its queue admits again
                error.retry_after = max(1, math.ceil(exc.retry_after_s))
            return error
    _LOGGER.exception("unhandled error (request %s)", request_id)
    return TTSError("internal error; it has been logged")


def from_http_exception(exc: HTTPException, method: str, path: str,
                        max_body: int | None) -> TTSError:
    """werkzeug's routing and body-size errors, in the service's words."""
    status = exc.code or 500
    cls = BY_STATUS.get(status, TTSError)
    template = HTTP_MESSAGES.get(status)
    error = cls(template.format(method=method, path=path, max_body=max_body) if template
                else exc.description or cls.code)
    error.status = status  # a status outside the tree keeps its own number
    return error


def shape_for(path: str) -> Shape:
    """The OpenAI-compatible surface answers in OpenAI's shape, so its SDK raises its
    usual exceptions; everything else in the service's own."""
    return Shape.OPENAI if path.startswith("/v1/") else Shape.NATIVE


def envelope(error: TTSError, request_id: str, shape: Shape) -> dict[str, Any]:
    """`error` as the JSON object of `shape` (see the module docstring)."""
    if shape is Shape.OPENAI:
        kind = "invalid_request_error" if error.status < 500 else "server_error"
        return {"error": {"message": error.message, "type": kind,
                          "param": OPENAI_PARAMS.get(error.param or "", error.param),
                          "code": error.code, "request_id": request_id}}
    body: dict[str, Any] = {"code": error.code, "message": error.message,
                            "request_id": request_id}
    if shape is Shape.NATIVE:
        return {"error": body}
    body["status"] = error.status
    return body if shape is Shape.BATCH_ITEM else {"error": body}


def error_response(error: TTSError, request_id: str, shape: Shape) -> Response:
    """The HTTP answer: the envelope plus Retry-After and WWW-Authenticate when due.
    Built without an app context, so layers in front of Flask answer the same way."""
    body = json.dumps(envelope(error, request_id, shape), ensure_ascii=False,
                      separators=(",", ":"))
    response = Response(body + "\n", status=error.status, mimetype="application/json")
    if error.retry_after is not None:
        response.headers[headers.RETRY_AFTER] = str(error.retry_after)
    if error.challenge is not None:
        response.headers[headers.WWW_AUTHENTICATE] = error.challenge
    return response
