"""AudioCache end to end: both tiers on a real Redis, coalescing, locks, outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from cache import AudioCache, CachedAudio, MemoryTier, RedisTier, request_key
from cache.entry import pack
from cache.keys import lock_key

if TYPE_CHECKING:
    from tts.testing.redis_servers import RedisServer

TIMEOUT_S = 0.1
RESET_S = 0.3
KEY = request_key(
    text="今天天气很好。", voice="zh-female-1", emotion="neutral", speed=1.0,
    fmt="wav", sample_rate=22050, engine="onnx", model_hash="m1",
)
ENTRY = CachedAudio(data=b"RIFF" + bytes(range(256)) * 64, duration_s=0.75)


class CountingCreate:
    """A stand-in for synthesis: slow, counted, and able to fail on demand."""

    def __init__(self, delay_s: float = 0.0, entry: CachedAudio = ENTRY) -> None:
        self.delay_s = delay_s
        self.entry = entry
        self.calls = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> CachedAudio:
        with self._lock:
            self.calls += 1
        self.started.set()
        time.sleep(self.delay_s)
        return self.entry


def make_redis(url: str, **overrides: float) -> RedisTier:
    options: dict = {
        "ttl_s": 300, "socket_timeout_s": TIMEOUT_S, "breaker_failures": 3,
        "breaker_reset_s": RESET_S, **overrides,
    }
    return RedisTier(url, **options)


@pytest.fixture
def make_cache(clean_redis: RedisServer) -> Iterator[Callable[..., AudioCache]]:
    made: list[AudioCache] = []

    def factory(*, redis: bool = True, max_bytes: int = 1 << 20, **kwargs: float) -> AudioCache:
        tier = make_redis(clean_redis.url) if redis else None
        cache = AudioCache(MemoryTier(max_bytes), tier, **kwargs)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        cache.close()


def in_threads(n: int, fn: Callable[[], object]) -> list[object]:
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    return results


# -- tiers ------------------------------------------------------------------------------


def test_miss_then_memory_then_redis_fills_back(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    cache = make_cache()
    create = CountingCreate()
    assert cache.get(KEY) is None
    assert cache.get_or_create(KEY, create) == (ENTRY, "miss")
    assert cache.get_or_create(KEY, create) == (ENTRY, "hit-memory")
    cache.memory.clear()
    entry, tier = cache.get_or_create(KEY, create)
    assert tier == "hit-redis"
    assert entry.data == ENTRY.data and entry.duration_s == ENTRY.duration_s
    assert len(cache.memory) == 1  # filled back
    assert cache.get(KEY) == (ENTRY, "hit-memory")
    assert create.calls == 1
    with clean_redis.client() as c:
        assert 295 <= c.ttl(KEY) <= 300


def test_get_and_put(make_cache: Callable[..., AudioCache]) -> None:
    cache = make_cache()
    cache.put(KEY, ENTRY)
    assert cache.get(KEY) == (ENTRY, "hit-memory")
    cache.memory.clear()
    assert cache.get(KEY) == (ENTRY, "hit-redis")
    assert cache.get(KEY) == (ENTRY, "hit-memory")


def test_memory_only_without_redis(make_cache: Callable[..., AudioCache]) -> None:
    cache = make_cache(redis=False)
    create = CountingCreate()
    assert cache.get_or_create(KEY, create) == (ENTRY, "miss")
    assert cache.get_or_create(KEY, create) == (ENTRY, "hit-memory")
    assert cache.state()["redis"] == "disabled"
    assert cache.stats()["redis"] == dict.fromkeys(
        ("hits", "misses", "errors", "bytes_read", "bytes_written"), 0
    )


@pytest.mark.parametrize("damage", ["truncated", "foreign-magic"])
def test_damaged_value_in_redis_is_a_miss(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer, damage: str
) -> None:
    cache = make_cache()
    raw = pack(ENTRY)
    with clean_redis.client() as c:
        c.set(KEY, raw[:-100] if damage == "truncated" else b"XXXX" + raw[4:])
    assert cache.get(KEY) is None
    assert cache.get_or_create(KEY, CountingCreate()) == (ENTRY, "miss")
    cache.memory.clear()
    assert cache.get(KEY) == (ENTRY, "hit-redis")  # the fresh result replaced it


def test_stats_and_state(make_cache: Callable[..., AudioCache]) -> None:
    cache = make_cache()
    cache.get_or_create(KEY, CountingCreate())  # memory miss, redis miss, write both
    cache.get_or_create(KEY, CountingCreate())  # memory hit
    cache.memory.clear()
    cache.get(KEY)  # memory miss, redis hit
    stats = cache.stats()
    n, packed = len(ENTRY.data), cache.redis._client.strlen(KEY)  # type: ignore[union-attr]
    assert stats["memory"] == {
        "hits": 1, "misses": 2, "errors": 0, "bytes_read": n, "bytes_written": 2 * n,
    }
    assert stats["redis"] == {
        "hits": 1, "misses": 1, "errors": 0, "bytes_read": packed, "bytes_written": packed,
    }
    assert cache.state() == {
        "memory": {"entries": 1, "bytes": n, "max_bytes": 1 << 20},
        "redis": "up",
        "in_flight": 0,
    }


# -- Redis trouble -------------------------------------------------------------------------


def test_redis_stopped_mid_run_then_back(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    cache = make_cache()
    cache.put(KEY, ENTRY)
    clean_redis.stop()

    keys = [KEY.replace(KEY[-4:], f"{i:04x}") for i in range(20)]
    create = CountingCreate()
    started = time.monotonic()
    for key in keys:
        assert cache.get(key) is None
        cache.put(key + "p", ENTRY)
        assert cache.get_or_create(key, create) == (ENTRY, "miss")
    elapsed = time.monotonic() - started
    assert elapsed < 20 * TIMEOUT_S / 2, elapsed
    assert create.calls == 20
    assert cache.get(KEY) == (ENTRY, "hit-memory")  # tier 1 kept serving
    assert cache.state()["redis"] == "circuit-open"
    assert cache.stats()["redis"]["errors"] >= 3

    clean_redis.start()
    time.sleep(RESET_S + 0.05)
    other = KEY.replace(KEY[-4:], "ffff")
    assert cache.get_or_create(other, create) == (ENTRY, "miss")  # probe closes the breaker
    assert cache.state()["redis"] == "up"
    cache.memory.clear()
    assert cache.get(other) == (ENTRY, "hit-redis")  # same cache object, Redis in use again


def test_redis_frozen_calls_return_within_timeout(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    cache = make_cache()
    cache.put(KEY, ENTRY)
    cache.memory.clear()
    clean_redis.pause()
    worst = 0.0
    for i in range(6):
        key = KEY.replace(KEY[-4:], f"{i:04x}")
        for call in (
            lambda k=key: cache.get(k),
            lambda k=key: cache.put(k, ENTRY),
            lambda k=key: cache.get_or_create(k + "x", CountingCreate()),
        ):
            started = time.monotonic()
            call()
            worst = max(worst, time.monotonic() - started)
    # Each call makes at most one Redis attempt: a failed GET skips the lock.
    assert worst < TIMEOUT_S + 0.08, worst
    assert cache.state()["redis"] == "circuit-open"
    clean_redis.resume()


def test_redis_refusing_writes_does_not_make_requests_wait(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    # Out of memory with noeviction: GET works, every SET is refused. The lock can't
    # be taken, but nobody holds it either, so waiting lock_wait_s would be wrong.
    cache = make_cache(lock_wait_s=5.0)
    with clean_redis.client() as c:
        c.config_set("maxmemory-policy", "noeviction")
        c.config_set("maxmemory", 1)
        try:
            started = time.monotonic()
            assert cache.get_or_create(KEY, CountingCreate()) == (ENTRY, "miss")
            assert time.monotonic() - started < 0.5
            assert cache.stats()["redis"]["errors"] == 2  # lock and value writes
            assert cache.state()["redis"] == "up"  # Redis answered: not a breaker matter
        finally:
            c.config_set("maxmemory", 0)


# -- coalescing ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_redis", [True, False])
def test_identical_concurrent_requests_create_once(
    make_cache: Callable[..., AudioCache], with_redis: bool
) -> None:
    cache = make_cache(redis=with_redis)
    create = CountingCreate(delay_s=0.3)
    results = in_threads(20, lambda: cache.get_or_create(KEY, create))
    assert create.calls == 1
    assert results == [(ENTRY, "miss")] * 20
    assert cache.state()["in_flight"] == 0


def test_create_error_reaches_all_waiters_then_retries(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    cache = make_cache()
    calls = 0

    def failing() -> CachedAudio:
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        raise RuntimeError("engine exploded")

    results = in_threads(8, lambda: cache.get_or_create(KEY, failing))
    assert calls == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    with clean_redis.client() as c:
        assert not c.exists(lock_key(KEY))  # the lock was released on failure
    assert cache.get_or_create(KEY, CountingCreate()) == (ENTRY, "miss")


def test_second_process_waits_for_the_first(make_cache: Callable[..., AudioCache]) -> None:
    first, second = make_cache(), make_cache()  # separate memories, one Redis
    slow = CountingCreate(delay_s=0.5)
    never = CountingCreate()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(first.get_or_create(KEY, slow)))
    worker.start()
    assert slow.started.wait(5)
    started = time.monotonic()
    entry, tier = second.get_or_create(KEY, never)
    waited = time.monotonic() - started
    worker.join(5)
    assert results == [(ENTRY, "miss")]
    assert (entry, tier) == (ENTRY, "hit-redis")
    assert never.calls == 0
    assert waited < 1.5
    assert second.get(KEY) == (ENTRY, "hit-memory")


def test_lock_of_a_crashed_holder_expires(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    with clean_redis.client() as c:
        c.set(lock_key(KEY), "crashed-holder", px=700)
    cache = make_cache(lock_wait_s=5.0)
    create = CountingCreate()
    started = time.monotonic()
    assert cache.get_or_create(KEY, create) == (ENTRY, "miss")
    elapsed = time.monotonic() - started
    assert create.calls == 1
    assert 0.6 <= elapsed < 1.5, elapsed
    with clean_redis.client() as c:
        assert not c.exists(lock_key(KEY))


def test_lock_wait_is_bounded(
    make_cache: Callable[..., AudioCache], clean_redis: RedisServer
) -> None:
    with clean_redis.client() as c:
        c.set(lock_key(KEY), "crashed-holder")  # no expiry at all
    cache = make_cache(lock_wait_s=0.6)
    create = CountingCreate()
    started = time.monotonic()
    assert cache.get_or_create(KEY, create) == (ENTRY, "miss")
    elapsed = time.monotonic() - started
    assert create.calls == 1
    assert 0.55 <= elapsed < 1.2, elapsed
    with clean_redis.client() as c:
        assert c.get(lock_key(KEY)) == b"crashed-holder"  # not ours to remove
