"""Tier 2 on a real three-node Redis Cluster, including one node killed under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import pytest

from cache import AudioCache, CachedAudio, MemoryTier, RedisTier, request_key
from cache.keys import lock_key
from cache.redis_tier import ACQUIRED, HELD

if TYPE_CHECKING:
    from tts.testing.redis_servers import RedisClusterSet

# Larger than the service's default so a busy shared machine does not turn a slow
# answer into a miss; a dead server refuses at once whatever the timeout.
TIMEOUT_S = 0.5


def key(i: int) -> str:
    return request_key(text=f"第{i}句。", voice="v", emotion="neutral", speed=1.0, fmt="wav",
                       sample_rate=22050, engine="onnx", model_hash="cluster")


def entry(i: int) -> CachedAudio:
    return CachedAudio(data=b"RIFF" + i.to_bytes(4, "big") * 256, duration_s=0.25)


@pytest.fixture
def cache(redis_cluster: RedisClusterSet) -> Iterator[AudioCache]:
    # Tier 1 off, so every hit is a tier-2 hit.
    made = AudioCache(MemoryTier(0), RedisTier(redis_cluster.url, socket_timeout_s=TIMEOUT_S),
                      lock_wait_s=1.0)
    yield made
    made.close()


def test_entries_and_locks_spread_over_the_nodes(
    redis_cluster: RedisClusterSet, cache: AudioCache
) -> None:
    keys = [key(i) for i in range(30)]
    for i, k in enumerate(keys):
        cache.put(k, entry(i))
    assert all(cache.get(k) == (entry(i), "hit-redis") for i, k in enumerate(keys))
    owners = {redis_cluster.node_for(k).port for k in keys}
    assert owners == {n.port for n in redis_cluster.nodes}  # really sharded

    tier = cache.redis
    assert tier is not None
    assert tier.claim(keys[0], 5000) == ACQUIRED
    assert tier.claim(keys[0], 5000) == HELD
    tier.unlock(keys[0])  # EVAL routed to the lock key's node
    with redis_cluster.node_for(lock_key(keys[0])).client(timeout_s=10) as c:
        assert not c.exists(lock_key(keys[0]))
    # A miss runs create once and stores the result for the next caller.
    assert cache.get_or_create(key(99), lambda: entry(99)) == (entry(99), "miss")
    assert cache.get(key(99)) == (entry(99), "hit-redis")
    assert tier.state() == "up"
    assert tier.stats.snapshot()["errors"] == 0


def test_a_dead_node_costs_only_its_own_keys(
    redis_cluster: RedisClusterSet, cache: AudioCache
) -> None:
    keys = [key(i) for i in range(60)]
    for i, k in enumerate(keys):
        cache.put(k, entry(i))
    victim = redis_cluster.node_for(keys[0])
    lost = {k for k in keys if redis_cluster.node_for(k) is victim}
    kept = [k for k in keys if k not in lost]
    assert lost and kept

    errors: list[BaseException] = []
    stop = threading.Event()
    slowest = [0.0]

    def timed(fn: Callable[..., object], *args: object) -> None:
        started = time.monotonic()
        try:
            fn(*args)
        except BaseException as exc:  # nothing may reach the caller
            errors.append(exc)
        slowest[0] = max(slowest[0], time.monotonic() - started)

    def load() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            timed(cache.get, keys[n % len(keys)])
            timed(cache.get_or_create, key(1000 + n), partial(entry, n))
            time.sleep(0.002)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)
        victim.kill()
        time.sleep(1.0)  # past cluster-node-timeout: the survivors mark it failed
        # The survivors' keys are hits the whole time; the victim's are clean misses.
        for _ in range(3):
            assert all(cache.get(k) is not None for k in kept)
            assert all(cache.get(k) is None for k in lost)
    finally:
        stop.set()
        thread.join(timeout=5)

    assert errors == []
    assert slowest[0] < 4 * TIMEOUT_S
    tier = cache.redis
    assert tier is not None
    assert tier.state() == "circuit-open"  # the dead node's breaker
    assert tier.available(kept[0])  # ...and only that one
    assert not tier.available(next(iter(lost)))


def test_cluster_unreachable_at_start_up_is_a_miss_not_an_error() -> None:
    tier = RedisTier("redis+cluster://127.0.0.1:1,127.0.0.1:2", socket_timeout_s=TIMEOUT_S,
                     breaker_reset_s=60)
    try:
        for i in range(10):
            assert tier.get(key(i)) is None
            assert tier.put(key(i), entry(i)) is False
            assert tier.claim(key(i), 100) == "unavailable"
        assert tier.state() == "circuit-open"
        assert tier.stats.snapshot()["errors"] == 3
    finally:
        tier.close()


def test_hits_come_back_when_a_replica_takes_over(
    redis_cluster_replicated: RedisClusterSet,
) -> None:
    group = redis_cluster_replicated
    cache = AudioCache(MemoryTier(0), RedisTier(group.url, socket_timeout_s=TIMEOUT_S),
                       lock_wait_s=1.0)
    try:
        keys = [key(i) for i in range(60)]
        for i, k in enumerate(keys):
            cache.put(k, entry(i))
        group.wait_replicated()
        victim = group.node_for(keys[0])
        moved = [k for k in keys if group.node_for(k) is victim]

        errors: list[BaseException] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    cache.get(keys[n % len(keys)])
                    cache.get_or_create(key(1000 + n), partial(entry, n))
                except BaseException as exc:  # nothing may reach the caller
                    errors.append(exc)
                time.sleep(0.002)

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        try:
            time.sleep(0.2)
            killed_at = time.monotonic()
            victim.kill()
            deadline = killed_at + 15.0
            while time.monotonic() < deadline and cache.get(moved[0]) is None:
                time.sleep(0.05)
            back_s = time.monotonic() - killed_at
        finally:
            stop.set()
            thread.join(timeout=5)

        print(f"\ncluster failover: the dead master's keys hit again after {back_s:.2f} s")
        assert errors == []
        assert back_s < 15.0
        assert all(cache.get(k) == (entry(i), "hit-redis") for i, k in enumerate(keys))
        assert cache.redis is not None
        assert cache.redis.state() == "up"  # the dead master is out of the slot map
    finally:
        cache.close()
