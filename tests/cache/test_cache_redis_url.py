"""REDIS_URL forms (one server, Sentinel, Cluster) and the clients built from them; no server."""

from __future__ import annotations

import re

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import SentinelConnectionPool

from cache.redis_connect import (
    CLUSTER,
    SENTINEL,
    STANDALONE,
    RedisTarget,
    parse_redis_url,
    redact_url,
)
from cache.redis_tier import RedisTier


def test_plain_urls_are_left_to_redis_py() -> None:
    for url in ("redis://cache:6379/2", "rediss://:pw@cache/0", "unix:///run/redis.sock"):
        target = parse_redis_url(url)
        assert target.mode == STANDALONE
        assert target.url == url


def test_sentinel_url() -> None:
    target = parse_redis_url(
        "redis+sentinel://app:s3cret@s1:26380,s2,[::1]:26381/mymaster/3"
        "?sentinel_password=sp&sentinel_username=watcher"
    )
    assert target == RedisTarget(
        mode=SENTINEL, url=target.url,
        hosts=(("s1", 26380), ("s2", 26379), ("::1", 26381)),
        service_name="mymaster", db=3, username="app", password="s3cret",
        sentinel_username="watcher", sentinel_password="sp", ssl=False,
    )
    assert parse_redis_url("rediss+sentinel://s1/mymaster").ssl
    assert parse_redis_url("redis+sentinel://s1/mymaster").db == 0


def test_cluster_url() -> None:
    target = parse_redis_url("redis+cluster://:pw@n1:7000,n2:7001,n3")
    assert target.mode == CLUSTER
    assert target.hosts == (("n1", 7000), ("n2", 7001), ("n3", 6379))
    assert target.password == "pw"
    assert parse_redis_url("rediss+cluster://n1:7000/0").ssl


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cache:6379", "scheme 'http'"),
        ("cache:6379", "scheme '(none)'"),
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel://s1:26379/mymaster/x", "database 'x'"),
        ("redis+sentinel://s1:26379/a/1/2", "/service[/db]"),
        ("redis+sentinel://s1:99999/mymaster", "port '99999'"),
        ("redis+sentinel://s1,,s2/mymaster", "empty host"),
        ("redis+sentinel://s1/mymaster?master_name=x", "unknown option(s) master_name"),
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis+cluster://n1:7000?sentinel_password=x", "unknown option"),
    ],
)
def test_bad_urls_fail_at_start_up(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RedisTier(url)


def test_every_password_is_redacted() -> None:
    url = "redis+sentinel://app:s3cret@s1:26379,s2:26379/mymaster?sentinel_password=sp"
    assert redact_url(url) == (
        "redis+sentinel://app:***@s1:26379,s2:26379/mymaster?sentinel_password=***"
    )
    assert redact_url("redis+cluster://:pw@n1,n2") == "redis+cluster://:***@n1,n2"
    assert redact_url("redis+cluster://n1,n2") == "redis+cluster://n1,n2"
    tier = RedisTier(url)
    assert "s3cret" not in tier.url and "sp" not in tier.url.split("?")[1]
    tier.close()


def test_sentinel_client_options() -> None:
    tier = RedisTier("redis+sentinel://:pw@127.0.0.1:1/mymaster/2", socket_timeout_s=0.2,
                     max_connections=7)
    try:
        assert tier.mode == SENTINEL
        pool = tier._client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert isinstance(pool, redis.BlockingConnectionPool)  # bounded like the others
        assert pool.max_connections == 7
        kwargs = pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.2
        assert kwargs["health_check_interval"] > 0
        assert (kwargs["db"], kwargs["password"]) == (2, "pw")
        # One jittered retry, on a dropped connection only: timeouts are never doubled.
        retry = kwargs["retry"]
        assert retry.get_retries() == 1
        assert RedisConnectionError in retry._supported_errors
        assert RedisTimeoutError not in retry._supported_errors
        # The sentinels themselves: no retries (discovery walks the list instead) and
        # no password of their own unless sentinel_password says so.
        assert tier._sentinel is not None
        for sentinel in tier._sentinel.sentinels:
            sk = sentinel.connection_pool.connection_kwargs
            assert sk["retry"].get_retries() == 0
            assert sk["socket_timeout"] == 0.2
            assert sk["password"] is None
    finally:
        tier.close()


def test_cluster_client_is_built_lazily() -> None:
    # Building a cluster client connects; that must wait for the first guarded call.
    tier = RedisTier("redis+cluster://127.0.0.1:1")
    assert tier.mode == CLUSTER
    assert tier._cluster is None
    assert tier.state() == "up"  # nothing tried yet
    tier.close()
