"""Header names the service reads or sends, and the WSGI environ keys derived from them.

One place, so a renamed header cannot be missed in a route, a middleware or the
OpenAPI document.
"""

from __future__ import annotations

REQUEST_ID = "X-Request-ID"  # echoed, or a new one: on every response
CACHE = "X-Cache"  # hit-memory | hit-redis | miss
AUDIO_DURATION = "X-Audio-Duration"  # seconds, when known before the body
ENGINE = "X-Engine"
DEVICE = "X-Device"  # cpu | cuda
RETRY_AFTER = "Retry-After"
WWW_AUTHENTICATE = "WWW-Authenticate"
CONTENT_TYPE = "Content-Type"
CONTENT_LENGTH = "Content-Length"

# The same headers as a WSGI server hands them over (for layers below Flask).
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
AUTHORIZATION_ENVIRON = "HTTP_AUTHORIZATION"
