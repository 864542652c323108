"""The same cache under gevent monkey-patching, as gunicorn's gevent worker runs it.

Runs in a child interpreter so the patching cannot leak into the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tts.testing.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, os, sys, time
    import gevent
    from cache import AudioCache, CachedAudio, MemoryTier, RedisTier

    url = os.environ["TEST_REDIS_URL"]
    entry = CachedAudio(data=b"x" * 4096, duration_s=0.1)
    out = {}

    # A heartbeat greenlet: if anything blocked the hub, its gaps would show it.
    gaps = []
    def heartbeat():
        last = time.monotonic()
        while True:
            gevent.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    beat = gevent.spawn(heartbeat)

    cache = AudioCache(MemoryTier(1 << 20), RedisTier(url, socket_timeout_s=0.1))
    calls = []
    def create():
        calls.append(1)
        time.sleep(0.3)  # patched: yields like real synthesis waiting on a worker
        return entry
    jobs = [gevent.spawn(cache.get_or_create, "tts:" + "c" * 32, create) for _ in range(50)]
    gevent.joinall(jobs, timeout=10)
    out["creates"] = len(calls)
    out["tiers"] = sorted({job.value[1] for job in jobs})
    out["same"] = all(job.value[0] == entry for job in jobs)

    # Redis frozen: 100 concurrent lookups all come back within about one timeout.
    sys.stdout.write("PAUSE\\n"); sys.stdout.flush(); sys.stdin.readline()
    cache.memory.clear()
    started = time.monotonic()
    jobs = [gevent.spawn(cache.get, "tts:%032x" % i) for i in range(100)]
    gevent.joinall(jobs, timeout=10)
    out["frozen_elapsed"] = time.monotonic() - started
    out["frozen_ok"] = all(job.successful() and job.value is None for job in jobs)
    out["redis"] = cache.state()["redis"]
    beat.kill()
    out["max_gap"] = max(gaps)
    sys.stdout.write(json.dumps(out) + "\\n")
    """
)


def test_cooperative_under_gevent(clean_redis: RedisServer) -> None:
    pytest.importorskip("gevent")
    env = {**os.environ, "TEST_REDIS_URL": clean_redis.url, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        ready = child.stdout.readline().strip()
        assert ready == "PAUSE", child.stderr.read() if child.stderr else ""
        clean_redis.pause()
        child.stdin.write("go\n")
        child.stdin.flush()
        line = child.stdout.readline()
        assert child.wait(timeout=20) == 0, child.stderr.read() if child.stderr else ""
    finally:
        clean_redis.resume()
        if child.poll() is None:
            child.kill()
            child.wait()
    out = json.loads(line)
    assert out["creates"] == 1
    assert out["tiers"] == ["miss"]
    assert out["same"]
    assert out["frozen_ok"]
    assert out["frozen_elapsed"] < 0.5, out
    assert out["redis"] == "circuit-open"
    assert out["max_gap"] < 0.1, out  # nothing blocked the event loop
