"""Tier 2 behind Redis Sentinel: real sentinels, a master and a replica; the master dies.

The failover test drives the real AudioCache with tier 1 off, so every lookup is a
tier-2 lookup, while a load thread keeps reading and writing through the kill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import pytest

from cache import AudioCache, CachedAudio, MemoryTier, RedisTier, request_key
from cache.redis_tier import ACQUIRED, HELD

if TYPE_CHECKING:
    from tts.testing.redis_servers import SentinelSet

# Larger than the service's default so a busy shared machine does not turn a slow
# answer into a miss; a dead server refuses at once whatever the timeout.
TIMEOUT_S = 0.5
# After the kill: the sentinels notice (DOWN_AFTER_MS), elect a leader and promote the
# replica (about 1.5 s), then the tier's breaker lets a probe through (its default 5 s).
RECOVERY_BOUND_S = 15.0


def key(i: int) -> str:
    return request_key(text=f"第{i}句。", voice="v", emotion="neutral", speed=1.0, fmt="wav",
                       sample_rate=22050, engine="onnx", model_hash="sentinel")


def entry(i: int) -> CachedAudio:
    return CachedAudio(data=b"RIFF" + i.to_bytes(4, "big") * 512, duration_s=0.5)


@pytest.fixture
def cache(redis_sentinel: SentinelSet) -> Iterator[AudioCache]:
    # Production defaults apart from the timeout; tier 1 off so hits can only be tier 2.
    made = AudioCache(MemoryTier(0), RedisTier(redis_sentinel.url, socket_timeout_s=TIMEOUT_S),
                      lock_wait_s=1.0)
    yield made
    made.close()


@dataclass
class Load:
    """Reads of the entries written before the kill, and new writes, in one thread."""

    cache: AudioCache
    keys: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    # (monotonic time, was it a tier-2 hit) per read of an old entry
    reads: list[tuple[float, bool]] = field(default_factory=list)
    slowest_s: float = 0.0
    calls: int = 0

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            self._timed(self._read, self.keys[n % len(self.keys)])
            self._timed(self.cache.put, key(100_000 + n), entry(n))
            self._timed(self.cache.get_or_create, key(200_000 + n), partial(entry, n))
            time.sleep(0.002)

    def _timed(self, fn: Callable[..., object], *args: object) -> None:
        started = time.monotonic()
        try:
            fn(*args)
        except BaseException as exc:  # the point: nothing may reach the caller
            self.errors.append(exc)
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.calls += 1

    def _read(self, k: str) -> None:
        found = self.cache.get(k)
        self.reads.append((time.monotonic(), found is not None and found[1] == "hit-redis"))


def test_tier2_hits_come_back_after_the_master_is_killed(
    redis_sentinel: SentinelSet, cache: AudioCache
) -> None:
    keys = [key(i) for i in range(40)]
    for i, k in enumerate(keys):
        cache.put(k, entry(i))
    assert redis_sentinel.wait_replicated() == 1, "the replica did not acknowledge the writes"
    assert all(cache.get(k) == (entry(i), "hit-redis") for i, k in enumerate(keys))

    load = Load(cache, keys)
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        killed_at = time.monotonic()
        redis_sentinel.master.kill()
        redis_sentinel.wait_promoted()
        promoted_s = time.monotonic() - killed_at
        # Hits again from tier 2, in the load thread, within the bound.
        deadline = killed_at + RECOVERY_BOUND_S
        while time.monotonic() < deadline:
            if any(t > killed_at and hit for t, hit in load.reads[-5:]):
                break
            time.sleep(0.05)
        time.sleep(0.3)  # keep the load going a little on the new master
    finally:
        load.stop.set()
        thread.join(timeout=5)

    assert not thread.is_alive()
    assert load.errors == []
    misses = [t for t, hit in load.reads if t > killed_at and not hit]
    back = [t for t, hit in load.reads if t > killed_at and hit]
    assert back, f"no tier-2 hit within {RECOVERY_BOUND_S} s of the kill"
    first_hit_s = back[0] - killed_at
    print(f"\nsentinel failover: promoted after {promoted_s:.2f} s; tier-2 misses for "
          f"{first_hit_s:.2f} s ({len(misses)} missed reads); {load.calls} calls, "
          f"slowest {load.slowest_s * 1000:.0f} ms")
    assert first_hit_s < RECOVERY_BOUND_S
    # No call waited on the dead master for longer than a few timeouts.
    assert load.slowest_s < 4 * TIMEOUT_S
    # Every entry written (and replicated) before the kill is a tier-2 hit again.
    assert all(cache.get(k) == (entry(i), "hit-redis") for i, k in enumerate(keys))
    # Writes and the cross-process lock work on the new master.
    assert cache.redis is not None
    assert cache.redis.claim(keys[0], 1000) == ACQUIRED
    assert cache.redis.claim(keys[0], 1000) == HELD
    cache.redis.unlock(keys[0])
    assert cache.redis.state() == "up"


def test_a_dead_sentinel_in_the_list_is_skipped(redis_sentinel: SentinelSet) -> None:
    # The first listed sentinel refuses connections; discovery moves on to the others.
    live = redis_sentinel.url.split("://", 1)[1]
    tier = RedisTier(f"redis+sentinel://127.0.0.1:1,{live}", socket_timeout_s=TIMEOUT_S)
    try:
        assert tier.put(key(1), entry(1))
        assert tier.get(key(1)) == entry(1)
        assert tier.state() == "up"
    finally:
        tier.close()


def test_no_sentinel_reachable_is_a_miss_not_an_error() -> None:
    tier = RedisTier("redis+sentinel://127.0.0.1:1,127.0.0.1:2/tts",
                     socket_timeout_s=TIMEOUT_S, breaker_reset_s=60)
    try:
        started = time.monotonic()
        for i in range(10):
            assert tier.get(key(i)) is None
            assert tier.put(key(i), entry(i)) is False
            assert tier.claim(key(i), 100) == "unavailable"
        assert time.monotonic() - started < 1.0
        assert tier.state() == "circuit-open"
        assert tier.stats.snapshot()["errors"] == 3  # then the breaker skips Redis
    finally:
        tier.close()
