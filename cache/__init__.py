"""The audio cache: in-process LRU, then optional Redis, with request coalescing.

    AudioCache                  one per worker, created at start-up
    ├── MemoryTier  (tier 1)    LRU bounded in bytes, shared by the worker's threads
    ├── RedisTier   (tier 2)    optional; one server, Sentinel or cluster (REDIS_URL);
    │                           bounded by socket timeouts, circuit breaker
    └── SingleFlight            identical in-worker requests synthesize once

Across workers a short Redis lock (``tts:lock:<md5>``, with an expiry) makes other
processes wait for the first one's result instead of synthesizing it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cache.coalesce import SingleFlight
from cache.entry import CachedAudio, pack, unpack
from cache.keys import request_key
from cache.memory import MemoryTier
from cache.redis_tier import ACQUIRED, UNAVAILABLE, RedisTier
from cache.stats import FIELDS

__all__ = [
    "HIT_MEMORY",
    "AudioCache",
    "CachedAudio",
    "MemoryTier",
    "RedisTier",
    "pack",
    "request_key",
    "unpack",
]

_LOGGER = logging.getLogger(__name__)

HIT_MEMORY = "hit-memory"
HIT_REDIS = "hit-redis"
MISS = "miss"


class AudioCache:
    """One per worker, created at start-up.

    ``lock_wait_s`` bounds how long a request waits for another process that holds
    the synthesis lock; after that it synthesizes anyway. ``lock_ttl_s`` (default
    ``lock_wait_s``) is the lock's expiry, so a crashed holder blocks nobody for
    longer than that. ``lock_poll_s`` is the first interval between Redis polls while
    waiting; it grows to at most four times that.
    """

    def __init__(
        self,
        memory: MemoryTier,
        redis: RedisTier | None = None,
        *,
        lock_wait_s: float = 10.0,
        lock_ttl_s: float | None = None,
        lock_poll_s: float = 0.05,
    ) -> None:
        if lock_wait_s < 0:
            raise ValueError(f"lock_wait_s must be >= 0, got {lock_wait_s}")
        if lock_poll_s <= 0:
            raise ValueError(f"lock_poll_s must be > 0, got {lock_poll_s}")
        self.memory = memory
        self.redis = redis
        self.lock_wait_s = lock_wait_s
        self.lock_ttl_s = lock_wait_s if lock_ttl_s is None else lock_ttl_s
        self.lock_poll_s = lock_poll_s
        self._flights: SingleFlight[tuple[CachedAudio, str]] = SingleFlight()

    # -- plain access ----------------------------------------------------------------

    def get(self, key: str) -> tuple[CachedAudio, str] | None:
        """(entry, "hit-memory" | "hit-redis") or None. A Redis hit fills tier 1."""
        entry = self.memory.get(key)
        if entry is not None:
            return entry, HIT_MEMORY
        if self.redis is None:
            return None
        entry = self.redis.get(key)
        if entry is None:
            return None
        self.memory.put(key, entry)
        return entry, HIT_REDIS

    def in_memory(self, key: str) -> CachedAudio | None:
        """Tier 1 alone, for a caller with a slower way round when it is absent: a hit
        is counted here, an absence is not (the slower way counts what it finds)."""
        entry = self.memory.get(key, record=False)
        if entry is not None:
            self.memory.stats.hit(len(entry.data))
        return entry

    def put(self, key: str, entry: CachedAudio) -> None:
        """Store in both tiers; Redis trouble is logged and counted, never raised."""
        self.memory.put(key, entry)
        if self.redis is not None:
            self.redis.put(key, entry)

    # -- coalesced access ------------------------------------------------------------

    def get_or_create(
        self, key: str, create: Callable[[], CachedAudio]
    ) -> tuple[CachedAudio, str]:
        """(entry, "hit-memory" | "hit-redis" | "miss"), running ``create`` at most once
        for identical concurrent calls in this worker.

        Callers that joined a flight get the leader's result and its label. An
        exception from ``create`` reaches every caller of that flight; the next call
        tries again.
        """
        entry = self.memory.get(key)
        if entry is not None:
            return entry, HIT_MEMORY
        result, _shared = self._flights.do(key, lambda: self._fill(key, create))
        return result

    def _fill(self, key: str, create: Callable[[], CachedAudio]) -> tuple[CachedAudio, str]:
        """The flight leader's work: Redis, then the cross-process lock, then create."""
        # A flight for this key may have finished between our memory miss and now.
        entry = self.memory.get(key, record=False)
        if entry is not None:
            return entry, HIT_MEMORY
        if self.redis is None:
            return self._create(key, create), MISS
        entry = self.redis.get(key)
        if entry is not None:
            self.memory.put(key, entry)
            return entry, HIT_REDIS
        if not self.redis.available(key):
            # That GET just failed: don't spend a second timeout on the lock.
            return self._create(key, create), MISS
        return self._fill_across_processes(key, create, self.redis)

    def _fill_across_processes(
        self, key: str, create: Callable[[], CachedAudio], redis: RedisTier
    ) -> tuple[CachedAudio, str]:
        ttl_ms = max(1, int(self.lock_ttl_s * 1000))
        deadline = time.monotonic() + self.lock_wait_s
        poll_s = self.lock_poll_s
        waited = False
        while True:
            claim = redis.claim(key, ttl_ms)
            if claim == ACQUIRED:
                return self._create_locked(key, create, redis, recheck=waited)
            if claim == UNAVAILABLE:
                # Redis is failing or refusing writes: nobody can coordinate, go ahead.
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _LOGGER.warning(
                    "lock for %s still held after %.1f s; synthesizing anyway",
                    key, self.lock_wait_s,
                )
                break
            time.sleep(min(poll_s, remaining))
            poll_s = min(poll_s * 1.5, self.lock_poll_s * 4)
            waited = True
            entry = redis.get(key)
            if entry is not None:
                self.memory.put(key, entry)
                return entry, HIT_REDIS
        return self._create(key, create), MISS

    def _create_locked(
        self, key: str, create: Callable[[], CachedAudio], redis: RedisTier, *, recheck: bool
    ) -> tuple[CachedAudio, str]:
        try:
            if recheck:
                # The previous holder may have stored the value just before releasing.
                entry = redis.get(key)
                if entry is not None:
                    self.memory.put(key, entry)
                    return entry, HIT_REDIS
            return self._create(key, create), MISS
        finally:
            redis.unlock(key)

    def _create(self, key: str, create: Callable[[], CachedAudio]) -> CachedAudio:
        entry = create()
        self.put(key, entry)
        return entry

    # -- reporting ---------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """Per tier: hits, misses, errors, bytes_read, bytes_written (monotonic)."""
        redis_stats = (
            self.redis.stats.snapshot() if self.redis is not None else dict.fromkeys(FIELDS, 0)
        )
        return {"memory": self.memory.stats.snapshot(), "redis": redis_stats}

    def state(self) -> dict[str, object]:
        """For /readyz: tier sizes and Redis state; does no I/O."""
        return {
            "memory": {
                "entries": len(self.memory),
                "bytes": self.memory.nbytes,
                "max_bytes": self.memory.max_bytes,
            },
            "redis": self.redis.state() if self.redis is not None else "disabled",
            "in_flight": len(self._flights),
        }

    def close(self) -> None:
        """Release Redis connections (worker exit)."""
        if self.redis is not None:
            self.redis.close()
