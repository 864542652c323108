"""Redis fixtures over tts.testing.redis_servers: real, throwaway servers.

``redis_server`` (session) starts one on a free loopback port; ``clean_redis``
(function) hands it over running, responsive and empty, and puts it back that way
afterwards. ``redis_sentinel``, ``redis_cluster`` and ``redis_cluster_replicated``
are per test because their tests kill servers. Each skips when the binaries are
missing. Loaded for every test through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tts.testing.redis_servers import RedisClusterSet, RedisServer, SentinelSet


def _binary(variable: str, name: str, package: str) -> str:
    """The binary named by `variable`, else `name` on PATH; skip the test without it."""
    binary = os.environ.get(variable) or shutil.which(name)
    if not binary:
        pytest.skip(f"{name} not found (install {package}, or set {variable} to its path)")
    return binary


def _redis_binary() -> str:
    return _binary("REDIS_SERVER", "redis-server", "it")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(_redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.ensure_ready()
    redis_server.flush()
    yield redis_server
    redis_server.ensure_ready()
    redis_server.flush()


@pytest.fixture
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    workdir = tmp_path_factory.mktemp("sentinel")
    yield from _running(SentinelSet(_redis_binary(), workdir), workdir)


def _cluster(factory: pytest.TempPathFactory, replicas: int) -> Iterator[RedisClusterSet]:
    cli = _binary("REDIS_CLI", "redis-cli", "redis-tools")
    workdir = factory.mktemp("cluster")
    yield from _running(RedisClusterSet(_redis_binary(), cli, workdir, replicas=replicas),
                        workdir)


Group = TypeVar("Group", SentinelSet, RedisClusterSet)


def _running(group: Group, workdir: Path) -> Iterator[Group]:
    """A started set of servers for a fixture; stopped and its directory gone after."""
    try:
        group.start()
        yield group
    finally:
        group.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterSet]:
    """Three masters and no replicas: a dead node's slots stay lost."""
    yield from _cluster(tmp_path_factory, replicas=0)


@pytest.fixture
def redis_cluster_replicated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterSet]:
    """Three masters with a replica each: a dead master's replica takes its slots."""
    yield from _cluster(tmp_path_factory, replicas=1)
