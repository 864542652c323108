"""Tier 2: Redis, strictly optional and never allowed to fail or stall a request.

Every call is bounded by the socket timeouts and guarded by a circuit breaker, so once
Redis is known to be down the tier costs nothing until a probe finds it back. Errors are
counted and logged here and turned into "no value" / "not locked"; nothing raises to the
caller.

Redis may be one server, a master watched by Sentinel, or a cluster (URL forms in
cache/redis_connect.py). With Sentinel, new connections ask the sentinels where the
master is, so after a failover the tier finds the promoted replica by itself. With a
cluster, each node has its own breaker: a dead node makes its keys misses without
switching off the nodes that still answer.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import Sentinel

from cache.breaker import DOWN, OPEN, UP, CircuitBreaker
from cache.entry import CachedAudio, pack, unpack
from cache.keys import lock_key
from cache.redis_connect import (
    CLUSTER,
    SENTINEL,
    cluster_client,
    parse_redis_url,
    redact_url,
    sentinel_client,
    standalone_client,
)
from cache.stats import TierStats

__all__ = ["ACQUIRED", "HELD", "UNAVAILABLE", "RedisTier", "redact_url"]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Client = redis.Redis | RedisCluster

# Outcomes of claim().
ACQUIRED = "acquired"
HELD = "held"
UNAVAILABLE = "unavailable"

# Errors that mean "could not reach Redis". RedisClusterException is how the cluster
# client says the same thing when no node answers or a key's slot has no live owner
# (it is not a RedisError). CLUSTERDOWN is an answer, but the cluster client sleeps
# 0.25 s on it before giving up, so it must open the breaker like an outage does.
_UNREACHABLE = (
    RedisConnectionError, RedisTimeoutError, RedisClusterException, ClusterDownError
)

# The breaker for everything that is not one cluster node: the single server, the
# Sentinel-managed master, and building the cluster client.
_TIER = ""

# state() reports the worst breaker.
_SEVERITY = {UP: 0, DOWN: 1, OPEN: 2}

# Delete the lock only if it still carries our token: after an expiry another
# process may hold it, and removing theirs would let a third one in.
_UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTier:
    """Cache values in Redis as packed bytes under ``tts:<md5>`` with a TTL.

    One per worker, created at start-up. The URL carries the mode, host(s), db, password
    and TLS (``redis://:pw@host:6379/0``, ``redis+sentinel://s1,s2/mymaster``,
    ``redis+cluster://n1:7000,n2:7000``); a malformed one raises ValueError here.
    Connecting is lazy, so a Redis that is down at start-up only shows as "down" and is
    used once it is up.
    """

    # The single-server or Sentinel-managed client; not set in cluster mode.
    _client: redis.Redis

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
        self._target = parse_redis_url(url)
        self.mode = self._target.mode
        self.stats = TierStats()
        self._breaker_failures = breaker_failures
        self._breaker_reset_s = breaker_reset_s
        self._breakers_lock = threading.Lock()
        self._breakers = {_TIER: CircuitBreaker(breaker_failures, breaker_reset_s)}
        self._max_connections = max_connections
        self._sentinel: Sentinel | None = None
        # Cluster mode: built at the first call, since building it reads the slot map.
        self._cluster: RedisCluster | None = None
        self._connect_lock = threading.Lock()
        # A blocking pool waits (at most one socket timeout) for a free connection
        # under a burst instead of opening an unbounded number of sockets; so a call
        # costs at most one timeout, two if every connection is stuck on a hung Redis.
        if self.mode == SENTINEL:
            self._sentinel, self._client = sentinel_client(
                self._target, timeout_s=socket_timeout_s, max_connections=max_connections,
                health_check_interval_s=health_check_interval_s,
            )
        elif self.mode != CLUSTER:
            self._client = standalone_client(
                self._target, timeout_s=socket_timeout_s, max_connections=max_connections,
                health_check_interval_s=health_check_interval_s,
            )
        self._tokens_lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    # -- the guarded call --------------------------------------------------------

    def _connected(self) -> Client | None:
        """The client, building the cluster one on first use; None while another thread
        is building it (the caller skips Redis rather than queueing behind a connect)."""
        if self.mode != CLUSTER:
            return self._client
        cluster = self._cluster
        if cluster is not None:
            return cluster
        if not self._connect_lock.acquire(blocking=False):
            return None
        try:
            if self._cluster is None:
                self._cluster = cluster_client(
                    self._target, timeout_s=self.socket_timeout_s,
                    max_connections=self._max_connections,
                )
            return self._cluster
        finally:
            self._connect_lock.release()

    def _breaker_name(self, key: str | None) -> str:
        """Which breaker guards ``key``: its cluster node's, else the tier's."""
        cluster = self._cluster
        if key is None or cluster is None:
            return _TIER
        try:
            node = cluster.get_node_from_key(key)
        except RedisClusterException:  # slot without an owner: no node to blame
            return _TIER
        return _TIER if node is None else str(node.name)

    def _breaker(self, name: str) -> CircuitBreaker:
        # A dict read is atomic: the lock is only for adding a node seen for the first
        # time, so the hit path takes no extra lock.
        breaker = self._breakers.get(name)
        if breaker is not None:
            return breaker
        with self._breakers_lock:
            return self._breakers.setdefault(
                name, CircuitBreaker(self._breaker_failures, self._breaker_reset_s)
            )

    def _call(
        self, op: str, fn: Callable[[Client], T], key: str | None = None
    ) -> tuple[bool, T | None]:
        """Run one Redis command through the breaker: (ok, result); never raises."""
        name = self._breaker_name(key)
        breaker = self._breaker(name)
        if not breaker.allow():
            return False, None
        try:
            client = self._connected()
            if client is None:
                return False, None
            result = fn(client)
        except _UNREACHABLE as exc:
            self.stats.add("errors")
            where = f"{self.url} node {name}" if name else self.url
            if breaker.record_failure():
                _LOGGER.warning(
                    "redis %s unreachable (%s: %s); circuit open, skipping it for a while",
                    where, type(exc).__name__, exc,
                )
            else:
                _LOGGER.info("redis %s failed on %s: %s: %s", op, where, type(exc).__name__, exc)
            return False, None
        except RedisError as exc:
            # Redis answered, just not as expected (OOM, READONLY, ...): the server is
            # reachable, so this does not count against the breaker.
            self.stats.add("errors")
            _LOGGER.warning("redis %s error: %s: %s", op, type(exc).__name__, exc)
            return False, None
        if breaker.record_success():
            _LOGGER.warning("redis %s reachable again; circuit closed",
                            f"{self.url} node {name}" if name else self.url)
        return True, result

    # -- values ------------------------------------------------------------------

    def get(self, key: str) -> CachedAudio | None:
        ok, raw = self._call("get", lambda c: c.get(key), key)
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
        ok, _ = self._call("set", lambda c: c.set(key, raw, ex=self.ttl_s), key)
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
            "lock", lambda c: c.set(name, token, nx=True, px=max(1, int(ttl_ms))), name
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
        self._call("unlock", lambda c: c.eval(_UNLOCK_SCRIPT, 1, name, token), name)

    # -- health --------------------------------------------------------------------

    def ping(self) -> bool:
        """One PING through the breaker (a no-op while the circuit is open)."""
        ok, _ = self._call("ping", lambda c: c.ping())
        return ok

    def available(self, key: str | None = None) -> bool:
        """True while the last call to where ``key`` lives (any key: every known part of
        Redis) succeeded; cheap, no I/O."""
        if key is not None:
            return self._breaker(self._breaker_name(key)).state == UP
        return self.state() == UP

    def state(self) -> str:
        """'up' | 'down' | 'circuit-open', from the calls made so far (no I/O); for a
        cluster, the worst of its nodes."""
        with self._breakers_lock:
            breakers = dict(self._breakers)
        cluster = self._cluster
        if cluster is not None:
            # A node that left the slot map (a dead master whose replica took over)
            # keeps its last state; it no longer says anything about the cluster.
            current = {str(n.name) for n in cluster.get_nodes()} | {_TIER}
            breakers = {k: v for k, v in breakers.items() if k in current}
        states = [b.state for b in breakers.values()]
        return max(states, key=_SEVERITY.__getitem__)

    def close(self) -> None:
        """Release connections (worker exit)."""
        try:
            if self.mode == CLUSTER:
                if self._cluster is not None:
                    self._cluster.close()
            else:
                self._client.close()
                self._client.connection_pool.disconnect()
            if self._sentinel is not None:
                self._sentinel.close()
        except RedisError:  # pragma: no cover - closing a dead socket
            pass
