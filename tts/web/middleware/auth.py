"""Who may call what: bearer keys and per-key rate limits, and the admin token.

With `API_KEYS` set, every path under `PROTECTED_PREFIXES` needs
`Authorization: Bearer <key>`: 401 when the header is missing or malformed,
403 when the key is not one of them. Probes (`/healthz`, `/readyz`), `/metrics`
and `/openapi.json` stay open. Keys are compared in constant time against every
key, and neither keys nor the header are ever logged. Socket.IO clients send their
key with the handshake (tts/web/routes/socketio.py), where this check cannot see it.

With `RATE_LIMIT_PER_S` > 0, each key (each client address when no keys are
configured) gets a token bucket in each worker; an empty bucket answers 429
with Retry-After. Overload of the worker itself is a separate 503 (tts.pool).

With `ADMIN_TOKEN` set, `/admin/*` needs `Authorization: Bearer $ADMIN_TOKEN`.

The lifecycle (tts/web/middleware/lifecycle.py) runs `Guard.check` once per request,
before any handler, so every answer (a tier-1 hit included) passed it exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from config import Settings
from tts.errors import Forbidden, RateLimited, Unauthorized

PROTECTED_PREFIXES = ("/api/", "/v1/")
ADMIN_PREFIX = "/admin/"
MAX_BUCKETS = 10000  # per worker; the least recently used bucket goes first


def bearer_token(header: str | None) -> str | None:
    """The token of `Bearer <token>`, or None when the header is absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Constant time in which key matched (or none): every key is compared."""
    found = False
    given_bytes = given.encode()
    for key in keys:
        found |= hmac.compare_digest(given_bytes, key.encode())
    return found


def check_bearer(header: str | None, keys: Sequence[str], realm: str) -> str:
    """The accepted token, or Unauthorized/Forbidden carrying the WWW-Authenticate value."""
    token = bearer_token(header)
    if token is None:
        raise Unauthorized("send Authorization: Bearer <key>",
                                  challenge=f'Bearer realm="{realm}"')
    if not key_matches(token, keys):
        raise Forbidden("this key is not accepted",
                               challenge=f'Bearer realm="{realm}", error="invalid_token"')
    return token


class TokenBuckets:
    """Per-key token buckets: `rate` tokens a second, at most `burst`; one per worker."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self.rate = rate
        self.burst = float(burst or max(1, math.ceil(rate)))
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a token was taken; otherwise seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            return wait


class Guard:
    """The check in front of every route; raises the 401/403/429 to answer with.

    A plain function of the path, client address and Authorization header, so it
    runs before Flask, in the lifecycle, for every kind of answer alike.
    """

    def __init__(self, keys: Sequence[str], buckets: TokenBuckets | None, rate_per_s: float,
                 admin_token: str) -> None:
        self.keys = keys
        self.buckets = buckets
        self.rate_per_s = rate_per_s
        self.admin_token = admin_token

    def check(self, path: str, remote_addr: str | None, authorization: str | None) -> None:
        if self.admin_token and path.startswith(ADMIN_PREFIX):
            check_bearer(authorization, [self.admin_token], "tts-admin")
            return
        if not path.startswith(PROTECTED_PREFIXES):
            return
        client = remote_addr or "unknown"
        if self.keys:
            token = check_bearer(authorization, self.keys, "tts")
            # Buckets are keyed by a digest, so the key itself is never held twice.
            client = "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        if self.buckets is not None:
            wait = self.buckets.take(client)
            if wait > 0:
                raise RateLimited(
                    f"more than {self.rate_per_s:g} requests per second for this "
                    f"{'key' if self.keys else 'client'}; retry shortly",
                    retry_after=max(1, math.ceil(wait)))


def guard_from(settings: Settings) -> Guard | None:
    """The guard the settings ask for; None when there is nothing to check, so a
    request pays nothing for auth."""
    keys = settings.api_key_list
    buckets = (TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
               if settings.rate_limit_per_s > 0 else None)
    if not keys and buckets is None and not settings.admin_token:
        return None
    return Guard(keys, buckets, settings.rate_limit_per_s, settings.admin_token)
