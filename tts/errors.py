"""The errors the service answers with: one tree, HTTP status and code as class data.

    TTSError                  500 internal             an engine failure, or a bug (logged)
    ├── BadRequest            400 bad_request          a field is wrong (message names it)
    ├── Unauthorized          401 unauthorized         with WWW-Authenticate
    ├── Forbidden             403 forbidden            with WWW-Authenticate
    ├── NotFound              404 not_found            route or voice
    ├── MethodNotAllowed      405 method_not_allowed
    ├── PayloadTooLarge       413 too_large            text, body or batch over a limit
    ├── UnsupportedMediaType  415 unsupported_media_type
    ├── Unspeakable           422 nothing_to_say
    ├── RateLimited           429 rate_limited         with Retry-After
    └── Unavailable           503 unavailable          overloaded, deadline, warming up

What lower layers raise (the front end's SSML errors, the pool's overload, the engine's
failures) stays free of HTTP; `tts.web.error_map` maps those onto this tree as data,
and renders every error into the envelope its caller expects, with the request id.
"""

from __future__ import annotations


class TTSError(Exception):
    """Root of the tree; also what an unexpected failure becomes (a 500, logged)."""

    status = 500
    code = "internal"
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(self, message: str, *, retry_after: int | None = None,
                 challenge: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after
        self.challenge = challenge  # WWW-Authenticate value of a 401/403
        self.param = param  # the request field at fault, when one is (OpenAI's `param`)


class BadRequest(TTSError):
    status, code = 400, "bad_request"


class Unauthorized(TTSError):
    status, code = 401, "unauthorized"


class Forbidden(TTSError):
    status, code = 403, "forbidden"


class NotFound(TTSError):
    status, code = 404, "not_found"


class MethodNotAllowed(TTSError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(TTSError):
    status, code = 413, "too_large"


class UnsupportedMediaType(TTSError):
    status, code = 415, "unsupported_media_type"


class Unspeakable(TTSError):
    status, code = 422, "nothing_to_say"


class RateLimited(TTSError):
    status, code = 429, "rate_limited"


class Unavailable(TTSError):
    # Overload and warm-up pass within a second or so; a client should simply retry.
    status, code, retry_after = 503, "unavailable", 1


BY_STATUS: dict[int, type[TTSError]] = {
    cls.status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                PayloadTooLarge, UnsupportedMediaType, Unspeakable, RateLimited, Unavailable)
}
