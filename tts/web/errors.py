"""Errors the service answers with, each carrying its HTTP status and code.

    ServiceError (500 internal)
    ├── BadRequest            400 bad_request          a field is wrong (message names it)
    ├── Unauthorized          401 unauthorized         with WWW-Authenticate
    ├── Forbidden             403 forbidden            with WWW-Authenticate
    ├── NotFound              404 not_found            route or voice
    ├── MethodNotAllowed      405 method_not_allowed
    ├── PayloadTooLarge       413 too_large            text, body or batch over a limit
    ├── UnsupportedMediaType  415 unsupported_media_type
    ├── Unspeakable           422 nothing_to_say
    ├── RateLimited           429 rate_limited         with Retry-After
    └── Unavailable           503 unavailable          overloaded, deadline, warming up, draining

All of them render as {"error": {"code", "message", "request_id"}} in one place (`app.py`).
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, retry_after: int | None = None,
                 challenge: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.challenge = challenge  # WWW-Authenticate value of a 401/403


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(ServiceError):
    status, code = 413, "too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class Unspeakable(ServiceError):
    status, code = 422, "nothing_to_say"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"


class Unavailable(ServiceError):
    status, code = 503, "unavailable"


BY_STATUS: dict[int, type[ServiceError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                PayloadTooLarge, UnsupportedMediaType, Unspeakable, RateLimited, Unavailable)
}
