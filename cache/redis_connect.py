"""From ``REDIS_URL`` to a redis-py client: one server, a Sentinel-watched master, or a cluster.

    redis://[[user]:password@]host[:port][/db]               one server (redis-py's own form)
    rediss://...                                             the same over TLS
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]
        [?sentinel_username=...&sentinel_password=...]       sentinels (default port 26379)
    redis+cluster://[[user]:password@]host[:port][,host[:port]...][/0]
                                                             cluster seed nodes (default 6379)
    rediss+sentinel://, rediss+cluster://                    the same over TLS

The user and password in the URL are the Redis servers' (master, replicas, cluster
nodes); Sentinel's own ACL, if it has one, goes in ``sentinel_username`` /
``sentinel_password``, because sentinels are usually configured without one.

Parsing happens once at start-up and a malformed URL fails there (``ValueError``), not at
the first request. Building a client never raises for an unreachable server, except for a
cluster, whose client must reach a seed node to learn the slot map: RedisTier builds that
one lazily, inside its guarded calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import redis
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

STANDALONE = "standalone"
SENTINEL = "sentinel"
CLUSTER = "cluster"

_SCHEMES = {
    "redis": (STANDALONE, False),
    "rediss": (STANDALONE, True),
    "unix": (STANDALONE, False),
    "redis+sentinel": (SENTINEL, False),
    "rediss+sentinel": (SENTINEL, True),
    "redis+cluster": (CLUSTER, False),
    "rediss+cluster": (CLUSTER, True),
}
_DEFAULT_PORT = {SENTINEL: 26379, CLUSTER: 6379}
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class RedisTarget:
    """Where tier 2 lives, as parsed from the URL; ``url`` is kept for the standalone form,
    which redis-py parses itself."""

    mode: str
    url: str
    hosts: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False


def parse_redis_url(url: str) -> RedisTarget:
    """Parse and check a ``REDIS_URL``; raise ValueError naming what is wrong."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"REDIS_URL scheme {scheme or '(none)'!r} is not one of: {', '.join(_SCHEMES)}"
        )
    mode, ssl = _SCHEMES[scheme]
    if mode == STANDALONE:
        return RedisTarget(mode=STANDALONE, url=url, ssl=ssl)

    # urlsplit cannot read "h1:1,h2:2" as a host, so the netloc is taken apart by hand.
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, password = _userinfo(userinfo)
    hosts = tuple(_host_port(item, _DEFAULT_PORT[mode]) for item in hostlist.split(","))
    segments = [unquote(s) for s in parts.path.split("/") if s]
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - set(_SENTINEL_OPTIONS if mode == SENTINEL else ()))
    if unknown:
        raise ValueError(f"REDIS_URL: unknown option(s) {', '.join(unknown)}")

    if mode == CLUSTER:
        if len(segments) > 1 or (segments and segments[0] != "0"):
            raise ValueError("REDIS_URL: a cluster has only database 0 (use /0 or nothing)")
        return RedisTarget(mode=CLUSTER, url=url, hosts=hosts, username=username,
                           password=password, ssl=ssl)

    if not segments:
        raise ValueError("REDIS_URL: redis+sentinel:// needs the service name as its path "
                         "(redis+sentinel://host:26379/mymaster)")
    if len(segments) > 2:
        raise ValueError("REDIS_URL: the sentinel path is /service[/db]")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"REDIS_URL: database {segments[1]!r} is not a number")
        db = int(segments[1])
    return RedisTarget(
        mode=SENTINEL, url=url, hosts=hosts, service_name=segments[0], db=db,
        username=username, password=password,
        sentinel_username=query.get("sentinel_username") or None,
        sentinel_password=query.get("sentinel_password") or None,
        ssl=ssl,
    )


def redact_url(url: str) -> str:
    """The URL with every password (userinfo or ``*password`` option) replaced by ``***``."""
    parts = urlsplit(url)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostlist}"
    query = parts.query
    if "password" in query:
        pairs = [p.partition("=") for p in query.split("&")]
        query = "&".join(
            f"{k}{eq}***" if "password" in k and v else f"{k}{eq}{v}" for k, eq, v in pairs
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _userinfo(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon and password else None)


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError("REDIS_URL: empty host in the host list")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"REDIS_URL: port {port_text!r} of {host} is not a TCP port")
    return host, int(port_text)


# -- clients ---------------------------------------------------------------------------


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's master-tracking pool with the blocking pool's bound, so a burst waits
    (at most the socket timeout) for a connection instead of opening one per thread."""


def _failover_retry(timeout_s: float) -> Retry:
    # One retry, on a dropped connection only: after a failover the first command on a
    # socket to the old master fails at once, and the retry reconnects to whatever
    # sentinel or the refreshed slot map names now. Timeouts are not retried, so a hung
    # server still costs one timeout. Jitter spreads the reconnects of many workers.
    return Retry(
        EqualJitterBackoff(cap=timeout_s, base=min(0.01, timeout_s / 2)),
        1,
        supported_errors=(RedisConnectionError,),
    )


def standalone_client(
    target: RedisTarget, *, timeout_s: float, max_connections: int, health_check_interval_s: int
) -> redis.Redis:
    """One server. No retries: a closed socket is noticed at check-out and replaced before
    sending, and a retried timeout would double the worst case."""
    pool = redis.BlockingConnectionPool.from_url(
        target.url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=health_check_interval_s,
        retry=Retry(NoBackoff(), 0),
        driver_info=None,  # skip CLIENT SETINFO: one round trip less per connect
    )
    return redis.Redis(connection_pool=pool)


def sentinel_client(
    target: RedisTarget, *, timeout_s: float, max_connections: int, health_check_interval_s: int
) -> tuple[Sentinel, redis.Redis]:
    """The master of ``target.service_name``; each new connection asks the sentinels where
    it is, and a changed answer drops the idle connections to the old one. Connects lazily."""
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        # discover_master already walks the list of sentinels: a retry per sentinel
        # would only multiply the cost of one that is down.
        "retry": Retry(NoBackoff(), 0),
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        "ssl": target.ssl,
    }
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs)
    master = sentinel.master_for(
        target.service_name,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=health_check_interval_s,
        retry=_failover_retry(timeout_s),
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        driver_info=None,
    )
    return sentinel, master


def cluster_client(
    target: RedisTarget, *, timeout_s: float, max_connections: int
) -> RedisCluster:
    """A cluster client; this one connects at once (to read the slot map) and raises
    ConnectionError or RedisClusterException if no seed node answers.

    ``health_check_interval`` is not passed: redis-py's cluster client drops it from the
    per-node options. Per-node pools are blocking, like the other modes.
    """
    (first_host, first_port), *others = target.hosts
    # The first seed goes in as a URL because only then does redis-py build the per-node
    # pools from connection_pool_class; the rest are extra seeds.
    auth = ""
    if target.password is not None or target.username is not None:
        user = quote(target.username or "", safe="")
        auth = f"{user}:{quote(target.password or '', safe='')}@"
    host = f"[{first_host}]" if ":" in first_host else first_host
    seed_url = f"{'rediss' if target.ssl else 'redis'}://{auth}{host}:{first_port}/0"
    return RedisCluster(
        url=seed_url,
        startup_nodes=[ClusterNode(h, p) for h, p in others],
        connection_pool_class=redis.BlockingConnectionPool,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=_failover_retry(timeout_s),
        # Serve the slots that are covered when a node is gone, rather than refusing
        # to start; keys on the missing node are misses.
        require_full_coverage=False,
        driver_info=None,
    )
