"""Tier 2: Redis, strictly optional and never allowed to fail or stall a request.

Every call is bounded by the socket timeouts (no client-side retries: a retry would
double the worst case) and guarded by a circuit breaker, so once Redis is known to be
down the tier costs nothing until a probe finds it back. Errors are counted and
logged here and turned into "no value" / "not locked"; nothing raises to the caller.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from cache.breaker import UP, CircuitBreaker
from cache.entry import CachedAudio, pack, unpack
from cache.keys import lock_key
from cache.stats import TierStats

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

# Outcomes of claim().
ACQUIRED = "acquired"
HELD = "held"
UNAVAILABLE = "unavailable"

# Delete the lock only if it still carries our token: after an expiry another
# process may hold it, and removing theirs would let a third one in.
_UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and /readyz."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisTier:
    """Cache values in Redis as packed bytes under ``tts:<md5>`` with a TTL.

    One per worker, created at start-up. The URL carries host, db, password
    (``redis://:pw@host:6379/0``) and TLS (``rediss://``). Connecting is lazy, so a
    Redis that is down at start-up only shows as "down" and is used once it is up.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_s: int = 86400,
        socket_timeout_s: float = 0.1,
        breaker_failures: int = 3,
        breaker_reset_s: float = 5.0,
        max_connections: int = 64,
        health_check_interval_s: int = 30,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        if socket_timeout_s <= 0:
            raise ValueError(f"socket_timeout_s must be > 0, got {socket_timeout_s}")
        self.ttl_s = ttl_s
        self.socket_timeout_s = socket_timeout_s
        self.url = redact_url(url)
        self.stats = TierStats()
        self._breaker = CircuitBreaker(breaker_failures, breaker_reset_s)
        # A blocking pool waits (at most one socket timeout) for a free connection
        # under a burst instead of opening an unbounded number of sockets; so a call
        # costs at most one timeout, two if every connection is stuck on a hung Redis.
        # No retries: a retried timeout doubles the worst case. Sockets that Redis
        # closed (restart, idle timeout) need none either: the pool sees them as
        # readable at check-out and reconnects before sending.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            health_check_interval=health_check_interval_s,
            retry=Retry(NoBackoff(), 0),
            driver_info=None,  # skip CLIENT SETINFO: one round trip less per connect
        )
        self._client = redis.Redis(connection_pool=pool)
        self._tokens_lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    # -- the guarded call --------------------------------------------------------

    def _call(self, op: str, fn: Callable[[], T]) -> tuple[bool, T | None]:
        """Run one Redis command through the breaker: (ok, result); never raises."""
        if not self._breaker.allow():
            return False, None
        try:
            result = fn()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self.stats.add("errors")
            if self._breaker.record_failure():
                _LOGGER.warning(
                    "redis %s unreachable (%s: %s); circuit open, skipping it for a while",
                    self.url, type(exc).__name__, exc,
                )
            else:
                _LOGGER.info("redis %s failed: %s: %s", op, type(exc).__name__, exc)
            return False, None
        except RedisError as exc:
            # Redis answered, just not as expected (OOM, READONLY, ...): the server is
            # reachable, so this does not count against the breaker.
            self.stats.add("errors")
            _LOGGER.warning("redis %s error: %s: %s", op, type(exc).__name__, exc)
            return False, None
        if self._breaker.record_success():
            _LOGGER.warning("redis %s reachable again; circuit closed", self.url)
        return True, result

    # -- values ------------------------------------------------------------------

    def get(self, key: str) -> CachedAudio | None:
        ok, raw = self._call("get", lambda: self._client.get(key))
        if not ok:
            return None
        if raw is None:
            self.stats.add("misses")
            return None
        if not isinstance(raw, bytes):  # pragma: no cover - only with decode_responses
            raw = str(raw).encode("utf-8", "surrogateescape")
        entry = unpack(raw)
        if entry is None:
            self.stats.add("misses")
            self.stats.add("errors")
            _LOGGER.warning("redis value for %s is truncated or foreign; treated as a miss", key)
            return None
        self.stats.hit(len(raw))
        return entry

    def put(self, key: str, entry: CachedAudio) -> bool:
        """Store with the TTL; True if Redis took it."""
        raw = pack(entry)
        ok, _ = self._call("set", lambda: self._client.set(key, raw, ex=self.ttl_s))
        if ok:
            self.stats.add("bytes_written", len(raw))
        return ok

    # -- cross-process lock -------------------------------------------------------

    def try_lock(self, key: str, ttl_ms: int) -> bool:
        """Take ``tts:lock:<md5>`` for ``ttl_ms``; False if held elsewhere or Redis failed."""
        return self.claim(key, ttl_ms) == ACQUIRED

    def claim(self, key: str, ttl_ms: int) -> str:
        """Like try_lock, but tells "held by another" (HELD) from "could not ask" (UNAVAILABLE).

        A waiter should only wait in the HELD case: with Redis failing (or refusing
        writes) nobody can coordinate, so it goes ahead and synthesizes.
        """
        token = uuid.uuid4().hex
        name = lock_key(key)
        ok, got = self._call(
            "lock", lambda: self._client.set(name, token, nx=True, px=max(1, int(ttl_ms)))
        )
        if not ok:
            return UNAVAILABLE
        if not got:
            return HELD
        with self._tokens_lock:
            self._tokens[key] = token
        return ACQUIRED

    def unlock(self, key: str) -> None:
        """Release our lock on ``key``, if we still hold it."""
        with self._tokens_lock:
            token = self._tokens.pop(key, None)
        if token is None:
            return
        name = lock_key(key)
        self._call("unlock", lambda: self._client.eval(_UNLOCK_SCRIPT, 1, name, token))

    # -- health --------------------------------------------------------------------

    def ping(self) -> bool:
        """One PING through the breaker (a no-op while the circuit is open)."""
        ok, _ = self._call("ping", self._client.ping)
        return ok

    def available(self) -> bool:
        """True while the last Redis call succeeded (cheap, no I/O)."""
        return self._breaker.state == UP

    def state(self) -> str:
        """'up' | 'down' | 'circuit-open', from the calls made so far (no I/O)."""
        return self._breaker.state

    def close(self) -> None:
        try:
            self._client.close()
            self._client.connection_pool.disconnect()
        except RedisError:  # pragma: no cover - closing a dead socket
            pass
