from __future__ import annotations

import threading

from cache.entry import CachedAudio
from cache.memory import MemoryTier


def audio(n: int, fill: bytes = b"a") -> CachedAudio:
    return CachedAudio(data=fill * n, duration_s=n / 1000)


def test_get_put_and_sizes() -> None:
    tier = MemoryTier(max_bytes=1000)
    assert tier.get("k") is None
    tier.put("k", audio(100))
    assert tier.get("k") == audio(100)
    assert len(tier) == 1
    assert tier.nbytes == 100
    tier.put("k", audio(300))  # replacing accounts for the old size
    assert tier.nbytes == 300
    tier.clear()
    assert len(tier) == 0
    assert tier.nbytes == 0
    assert tier.get("k") is None


def test_evicts_least_recently_used_by_bytes() -> None:
    tier = MemoryTier(max_bytes=1000)
    for name in "abc":
        tier.put(name, audio(300))
    assert tier.get("a") is not None  # a is now the most recent; b is the oldest
    tier.put("d", audio(300))
    assert tier.get("b") is None
    assert {k for k in "acd" if tier.get(k) is not None} == {"a", "c", "d"}
    assert tier.nbytes == 900
    tier.put("e", audio(700))  # recency is now a, c, d: evicts a, then c
    assert tier.nbytes <= 1000
    assert tier.get("e") is not None
    assert len(tier) == 2  # only d (300) + e (700) fit


def test_entry_bigger_than_bound_not_stored() -> None:
    tier = MemoryTier(max_bytes=1000)
    tier.put("small", audio(10))
    tier.put("huge", audio(1001))
    assert tier.get("huge") is None
    assert tier.get("small") is not None  # and it did not flush the others
    assert tier.nbytes == 10
    tier.put("small", audio(2000))  # a too-large replacement drops the stale value
    assert tier.get("small") is None
    assert tier.nbytes == 0


def test_zero_bound_and_empty_audio_store_nothing() -> None:
    off = MemoryTier(max_bytes=0)
    off.put("k", audio(1))
    off.put("empty", audio(0))
    assert len(off) == 0
    tier = MemoryTier(max_bytes=1000)
    for i in range(100):
        tier.put(f"empty-{i}", audio(0))  # would otherwise grow without bound
    assert len(tier) == 0


def test_exact_bound_fits() -> None:
    tier = MemoryTier(max_bytes=1000)
    tier.put("k", audio(1000))
    assert tier.get("k") is not None


def test_stats() -> None:
    tier = MemoryTier(max_bytes=1000)
    tier.get("k")
    tier.put("k", audio(100))
    tier.get("k")
    tier.get("k")
    tier.put("big", audio(5000))
    assert tier.stats.snapshot() == {
        "hits": 2,
        "misses": 1,
        "errors": 0,
        "bytes_read": 200,
        "bytes_written": 100,
    }


def test_threads_keep_the_byte_count_exact() -> None:
    tier = MemoryTier(max_bytes=50_000)

    def worker(n: int) -> None:
        for i in range(300):
            tier.put(f"{n}-{i % 37}", audio(100 + i % 50))
            tier.get(f"{(n + 1) % 8}-{i % 37}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tier.nbytes <= 50_000
    assert tier.nbytes == sum(len(e.data) for e in tier._entries.values())
