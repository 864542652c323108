"""Who may call what: bearer keys and per-key rate limits, and the admin token.

With `API_KEYS` set, every path under `PROTECTED_PREFIXES` needs
`Authorization: Bearer <key>`: 401 when the header is missing or malformed,
403 when the key is not one of them. Probes (`/healthz`, `/readyz`), `/metrics`
and `/openapi.json` stay open. Keys are compared in constant time against every
key, and neither keys nor the header are ever logged. Socket.IO clients send their
key with the handshake (tts/web/routes/socketio.py), where this check cannot see it.

With `RATE_LIMIT_PER_S` > 0, each key (each client address when no keys are
configured) may make `RATE_LIMIT_BURST` requests (one second's worth when 0) in
each window of burst / rate seconds, counted by the `limits` library (fixed
windows) for the whole pod: in Redis when `REDIS_URL` is set, so the limit holds
across pods, else in counters the pod's workers share (tts/pod.py). Beyond it: 429
with Retry-After. Redis trouble never fails a request: while Redis fails, the
pod's own counters count instead. Overload of the worker itself is a separate 503
(tts.pool).

With `ADMIN_TOKEN` set, `/admin/*` needs `Authorization: Bearer $ADMIN_TOKEN`.

The lifecycle (tts/web/middleware/lifecycle.py) runs `Guard.check` once per request,
before any handler, so every answer (a tier-1 hit included) passed it exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import RedisClusterStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from cache.breaker import CircuitBreaker
from cache.redis_connect import (
    CLUSTER,
    SENTINEL,
    parse_redis_url,
    sentinel_client,
    standalone_client,
)
from config import Settings
from tts.errors import Forbidden, RateLimited, Unauthorized
from tts.pod import PodCounters

PROTECTED_PREFIXES = ("/api/", "/v1/")
ADMIN_PREFIX = "/admin/"

_LOGGER = logging.getLogger(__name__)


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


class RateLimit:
    """A per-key limit of `amount` requests per `window_s` for the whole pod (see the
    module docstring); `take` answers how long a refused key has to wait."""

    def __init__(self, rate_per_s: float, burst: int, pod: Storage,
                 shared: Callable[[], Storage] | None = None) -> None:
        self.amount = burst or max(1, math.ceil(rate_per_s))
        self.window_s = max(1, round(self.amount / rate_per_s))
        self.item = RateLimitItemPerSecond(self.amount, self.window_s)
        self._pod = FixedWindowRateLimiter(pod)
        self._shared_factory = shared
        self._shared: FixedWindowRateLimiter | None = None
        self._breaker = CircuitBreaker()

    def take(self, key: str) -> float:
        """0 when the request is within the limit; otherwise seconds until it would be."""
        if self._shared_factory is not None and self._breaker.allow():
            try:
                if self._shared is None:  # a cluster client connects when it is built
                    self._shared = FixedWindowRateLimiter(self._shared_factory())
                wait = self._take(self._shared, key)
            except Exception:  # Redis trouble: count in the pod until it is back
                if self._breaker.record_failure():
                    _LOGGER.warning("rate limits: Redis failing, counting per pod",
                                    exc_info=True)
            else:
                self._breaker.record_success()
                return wait
        return self._take(self._pod, key)

    def _take(self, limiter: FixedWindowRateLimiter, key: str) -> float:
        if limiter.hit(self.item, key):
            return 0.0
        reset, _ = limiter.get_window_stats(self.item, key)
        return max(0.0, reset - time.time())


def redis_storage(url: str, timeout_s: float) -> Callable[[], Storage]:
    """`limits`' Redis storage over the service's own Redis clients (cache/redis_connect):
    the same URL forms, credentials and timeouts as the cache tier. `limits` would read
    the URL its own way (a Sentinel URL's password, for one), so only clients and
    explicit options pass to it."""
    target = parse_redis_url(url)

    def build() -> Storage:
        if target.mode == CLUSTER:
            hosts = ",".join(f"{host}:{port}" for host, port in target.hosts)
            options: dict[str, Any] = {"socket_timeout": timeout_s,
                                       "socket_connect_timeout": timeout_s, "ssl": target.ssl}
            if target.username is not None:
                options["username"] = target.username
            if target.password is not None:
                options["password"] = target.password
            return RedisClusterStorage(f"redis+cluster://{hosts}", **options)
        if target.mode == SENTINEL:
            _, client = sentinel_client(target, timeout_s=timeout_s, max_connections=16,
                                        health_check_interval_s=30)
        else:
            client = standalone_client(target, timeout_s=timeout_s, max_connections=16,
                                       health_check_interval_s=30)
        return RedisStorage("redis://", connection_pool=client.connection_pool)

    return build


class Guard:
    """The check in front of every route; raises the 401/403/429 to answer with.

    A plain function of the path, client address and Authorization header, so it
    runs before Flask, in the lifecycle, for every kind of answer alike.
    """

    def __init__(self, keys: Sequence[str], limit: RateLimit | None, rate_per_s: float,
                 admin_token: str) -> None:
        self.keys = keys
        self.limit = limit
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
            # Limits are keyed by a digest, so the key itself is never held twice.
            client = "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        if self.limit is not None:
            wait = self.limit.take(client)
            if wait > 0:
                raise RateLimited(
                    f"more than {self.rate_per_s:g} requests per second for this "
                    f"{'key' if self.keys else 'client'}; retry shortly",
                    retry_after=max(1, math.ceil(wait)))


def guard_from(settings: Settings) -> Guard | None:
    """The guard the settings ask for; None when there is nothing to check, so a
    request pays nothing for auth."""
    keys = settings.api_key_list
    limit = None
    if settings.rate_limit_per_s > 0:
        shared = (redis_storage(settings.redis_url, settings.redis_timeout_s)
                  if settings.redis_url else None)
        limit = RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst, PodCounters(),
                          shared)
    if not keys and limit is None and not settings.admin_token:
        return None
    return Guard(keys, limit, settings.rate_limit_per_s, settings.admin_token)
