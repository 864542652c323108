"""RedisTier against a real redis-server, including a stopped and a frozen one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cache.entry import CachedAudio, pack
from cache.keys import lock_key
from cache.redis_tier import RedisTier, redact_url

if TYPE_CHECKING:
    from tts.testing.redis_servers import RedisServer

KEY = "tts:" + "ab" * 16
ENTRY = CachedAudio(data=b"\x00\x01audio\xff" * 500, duration_s=0.5)
TIMEOUT_S = 0.1


@pytest.fixture
def tier(clean_redis: RedisServer) -> Iterator[RedisTier]:
    t = RedisTier(
        clean_redis.url,
        ttl_s=120,
        socket_timeout_s=TIMEOUT_S,
        breaker_failures=3,
        breaker_reset_s=0.3,
    )
    yield t
    t.close()


def test_round_trip_raw_bytes_with_ttl(tier: RedisTier, clean_redis: RedisServer) -> None:
    assert tier.get(KEY) is None
    assert tier.put(KEY, ENTRY)
    assert tier.get(KEY) == ENTRY
    with clean_redis.client() as c:
        assert c.get(KEY) == pack(ENTRY)  # header + raw audio, no base64
        assert 115 <= c.ttl(KEY) <= 120
    assert tier.state() == "up"
    assert tier.stats.snapshot() == {
        "hits": 1,
        "misses": 1,
        "errors": 0,
        "bytes_read": len(pack(ENTRY)),
        "bytes_written": len(pack(ENTRY)),
    }


@pytest.mark.parametrize("raw", [b"", b"garbage", b"RIFF....WAVE", "cut"])
def test_truncated_or_foreign_value_is_a_miss(
    tier: RedisTier, clean_redis: RedisServer, raw: bytes | str
) -> None:
    value = pack(ENTRY)[:-7] if raw == "cut" else raw
    with clean_redis.client() as c:
        c.set(KEY, value)
    assert tier.get(KEY) is None
    stats = tier.stats.snapshot()
    assert stats["misses"] == 1
    assert stats["errors"] == 1
    assert tier.state() == "up"  # a bad value says nothing about the server


def test_client_does_not_retry(tier: RedisTier) -> None:
    # A retry would double the worst-case latency of every call.
    kwargs = tier._client.connection_pool.connection_kwargs
    assert kwargs["retry"].get_retries() == 0
    assert kwargs["socket_timeout"] == TIMEOUT_S
    assert kwargs["socket_connect_timeout"] == TIMEOUT_S
    assert kwargs["health_check_interval"] > 0


def test_restart_between_calls_costs_no_error(
    tier: RedisTier, clean_redis: RedisServer
) -> None:
    # The pooled connection from put() is dead after the restart; without retries
    # the next call must still not fail on it.
    assert tier.put(KEY, ENTRY)
    clean_redis.stop()
    clean_redis.start()
    assert tier.get(KEY) is None  # a clean miss (restarted empty), not an error
    assert tier.stats.snapshot()["errors"] == 0
    assert tier.state() == "up"


def test_lock_is_exclusive_and_expires(tier: RedisTier, clean_redis: RedisServer) -> None:
    assert tier.try_lock(KEY, 300)
    assert not tier.try_lock(KEY, 300)
    assert tier.claim(KEY, 300) == "held"
    with clean_redis.client() as c:
        assert 0 < c.pttl(lock_key(KEY)) <= 300
    time.sleep(0.4)
    assert tier.try_lock(KEY, 10_000)
    tier.unlock(KEY)
    with clean_redis.client() as c:
        assert not c.exists(lock_key(KEY))


def test_unlock_leaves_someone_elses_lock(tier: RedisTier, clean_redis: RedisServer) -> None:
    assert tier.try_lock(KEY, 100)
    time.sleep(0.2)  # ours expired; another process takes it
    with clean_redis.client() as c:
        assert c.set(lock_key(KEY), "theirs", nx=True, px=10_000)
        tier.unlock(KEY)
        assert c.get(lock_key(KEY)) == b"theirs"


def test_stopped_redis_never_raises_and_breaker_recovers(
    tier: RedisTier, clean_redis: RedisServer
) -> None:
    assert tier.put(KEY, ENTRY)
    clean_redis.stop()
    started = time.monotonic()
    for _ in range(20):
        assert tier.get(KEY) is None
        assert tier.put(KEY, ENTRY) is False
        assert tier.try_lock(KEY, 1000) is False
        assert tier.claim(KEY, 1000) == "unavailable"
    assert time.monotonic() - started < 20 * TIMEOUT_S / 2
    assert tier.state() == "circuit-open"
    assert tier.stats.snapshot()["errors"] == 3  # only real attempts; the rest skipped

    clean_redis.start()  # empty again: no persistence
    time.sleep(0.35)  # breaker_reset_s
    assert tier.get(KEY) is None  # the probe: a clean miss, and the circuit closes
    assert tier.state() == "up"
    assert tier.put(KEY, ENTRY)
    assert tier.get(KEY) == ENTRY


def test_frozen_redis_costs_at_most_the_timeout(
    tier: RedisTier, clean_redis: RedisServer
) -> None:
    assert tier.put(KEY, ENTRY)  # a pooled connection exists
    clean_redis.pause()
    worst = 0.0
    for call in (lambda: tier.get(KEY), lambda: tier.put(KEY, ENTRY), tier.ping) * 2:
        started = time.monotonic()
        call()
        worst = max(worst, time.monotonic() - started)
    assert worst < TIMEOUT_S * 2.5
    assert tier.state() == "circuit-open"
    clean_redis.resume()
    time.sleep(0.35)
    assert tier.get(KEY) == ENTRY
    assert tier.state() == "up"


def test_down_at_start_up_then_comes_up(redis_server: RedisServer) -> None:
    # Nothing listens on this port yet; the tier must not fail to construct.
    spare = type(redis_server)(redis_server.binary, redis_server.workdir / "spare")
    spare.workdir.mkdir(exist_ok=True)
    tier = RedisTier(spare.url, socket_timeout_s=TIMEOUT_S, breaker_reset_s=0.2)
    try:
        assert tier.get(KEY) is None
        assert tier.state() == "down"
        spare.start()
        assert tier.put(KEY, ENTRY)
        assert tier.state() == "up"
    finally:
        tier.close()
        spare.stop()


def test_password_is_redacted() -> None:
    assert redact_url("rediss://user:s3cret@cache:6380/2") == "rediss://user:***@cache:6380/2"
    assert redact_url("redis://:s3cret@cache/0") == "redis://:***@cache/0"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
    tier = RedisTier("redis://:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in tier.url
    tier.close()


def test_password_and_tls_come_from_the_url() -> None:
    tier = RedisTier("rediss://:pw@127.0.0.1:1/3")
    kwargs = tier._client.connection_pool.connection_kwargs
    assert kwargs["password"] == "pw"
    assert kwargs["db"] == 3
    assert "ssl" in tier._client.connection_pool.connection_class.__name__.lower()
    tier.close()
