"""Tier 1: an in-process LRU bounded by the bytes of audio it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict

from cache.entry import CachedAudio
from cache.stats import TierStats


class MemoryTier:
    """LRU of CachedAudio, at most ``max_bytes`` of audio data in total.

    One per worker, shared by all its threads or greenlets. Only ``entry.size`` is
    counted (the per-entry overhead is small next to audio). An entry larger than the
    whole bound is not stored: it would evict everything and still not fit. Empty
    audio is not stored either, so the number of entries is bounded too.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.stats = TierStats()
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CachedAudio] = OrderedDict()
        self._nbytes = 0

    def get(self, key: str, *, record: bool = True) -> CachedAudio | None:
        """The entry (now most recently used) or None; ``record=False`` skips the stats."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if not record:
            pass
        elif entry is None:
            self.stats.add("misses")
        else:
            self.stats.hit(entry.size)
        return entry

    def put(self, key: str, entry: CachedAudio) -> None:
        size = entry.size
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= old.size
            if size == 0 or size > self.max_bytes:
                return
            self._entries[key] = entry
            self._nbytes += size
            while self._nbytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._nbytes -= evicted.size
        self.stats.add("bytes_written", size)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of audio held now."""
        return self._nbytes
