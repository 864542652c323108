"""State that every worker of one pod shares: the degrade mode and rate-limit counters.

Each gunicorn worker is a process of its own, so a setting made through one of them
(`POST /admin/degrade`) or a count kept by one of them (a rate limit) would otherwise
hold for that worker only. The pod's state lives in small memory-mapped files in a
directory the gunicorn master creates before it forks (`POD_DIR_ENV`); a worker
reads it with a memory access and writes it under an `flock`, held for microseconds
and never across a yield to the event loop. Without a master (tests, a single
process) the directory is private to the process, and the process is the pod.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import mmap
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from limits.storage import Storage

POD_DIR_ENV = "TTS_POD_DIR"

_private_dir: Path | None = None
_private_lock = threading.Lock()


def pod_dir() -> Path:
    """The pod's shared directory: the master's, else one private to this process."""
    named = os.environ.get(POD_DIR_ENV)
    if named:
        return Path(named)
    global _private_dir
    with _private_lock:
        if _private_dir is None:
            _private_dir = Path(tempfile.mkdtemp(prefix="tts-pod-"))
            atexit.register(shutil.rmtree, _private_dir, ignore_errors=True)
        return _private_dir


class _MappedFile:
    """A fixed-size file mapped into memory, shared by every process that opens it."""

    def __init__(self, path: Path, size: int) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)  # a new file reads as zeros: empty state
        self.map = mmap.mmap(self._fd, size)
        self._threads = threading.Lock()  # flock does not exclude threads of one process

    @contextmanager
    def locked(self) -> Iterator[mmap.mmap]:
        with self._threads:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield self.map
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class PodMode:
    """One choice among `choices` for the whole pod, with a version that changes on every
    set, so a worker notices a change with one memory read."""

    _LAYOUT = struct.Struct("<QQ")  # version, index into choices

    def __init__(self, name: str, choices: tuple[str, ...], directory: Path | None = None) -> None:
        self.choices = choices
        self._file = _MappedFile((directory or pod_dir()) / f"{name}.mode", self._LAYOUT.size)

    def read(self) -> tuple[int, str]:
        """(version, choice); version 0 means never set (the first choice)."""
        version, index = self._LAYOUT.unpack_from(self._file.map)
        return version, self.choices[index if index < len(self.choices) else 0]

    def set(self, choice: str) -> int:
        """Set the pod's choice; returns its new version."""
        index = self.choices.index(choice)
        with self._file.locked() as mapped:
            version = self._LAYOUT.unpack_from(mapped)[0] + 1
            self._LAYOUT.pack_into(mapped, 0, version, index)
        return version


class PodCounters(Storage):
    """`limits` storage shared by the pod's workers: fixed-window counters in a table of
    `slots` entries in a mapped file (32 bytes each). A key's entry is found by its
    hash among `probe` neighbours; an expired entry is free, and when all are live the
    one expiring first gives way, so the table never grows (like a bounded LRU)."""

    STORAGE_SCHEME = None  # built directly, never from a `limits` URI
    _ENTRY = struct.Struct("<QdqQ")  # key hash (0: empty), expiry (epoch s), count, spare

    def __init__(self, name: str = "ratelimit", slots: int = 4096, probe: int = 16,
                 directory: Path | None = None) -> None:
        super().__init__()
        self.slots, self.probe = slots, probe
        self._file = _MappedFile((directory or pod_dir()) / f"{name}.counters",
                                 slots * self._ENTRY.size)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return OSError

    @staticmethod
    def _hash(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) or 1

    def _find(self, mapped: mmap.mmap, key_hash: int, now: float,
              claim: bool) -> int | None:
        """The offset of `key_hash`'s live entry; with `claim`, of a slot to start it in."""
        first = key_hash % self.slots
        free: int | None = None
        soonest: tuple[float, int] | None = None
        for step in range(self.probe):
            offset = ((first + step) % self.slots) * self._ENTRY.size
            found, expiry, _, _ = self._ENTRY.unpack_from(mapped, offset)
            live = found != 0 and expiry > now
            if live and found == key_hash:
                return offset
            if not live and free is None:
                free = offset
            if live and (soonest is None or expiry < soonest[0]):
                soonest = (expiry, offset)
        if not claim:
            return None
        return free if free is not None else soonest[1] if soonest else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        key_hash, now = self._hash(key), time.time()
        with self._file.locked() as mapped:
            offset = self._find(mapped, key_hash, now, claim=True)
            assert offset is not None  # probe >= 1: a slot is always claimed
            found, until, count, _ = self._ENTRY.unpack_from(mapped, offset)
            if found != key_hash or until <= now:
                until, count = now + expiry, 0
            count += amount
            self._ENTRY.pack_into(mapped, offset, key_hash, until, count, 0)
            return int(count)

    def _entry(self, key: str) -> tuple[float, int]:
        with self._file.locked() as mapped:
            offset = self._find(mapped, self._hash(key), time.time(), claim=False)
            if offset is None:
                return time.time(), 0
            _, until, count, _ = self._ENTRY.unpack_from(mapped, offset)
            return until, int(count)

    def get(self, key: str) -> int:
        return self._entry(key)[1]

    def get_expiry(self, key: str) -> float:
        return self._entry(key)[0]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._file.locked() as mapped:
            mapped[:] = bytes(len(mapped))
        return None

    def clear(self, key: str) -> None:
        with self._file.locked() as mapped:
            offset = self._find(mapped, self._hash(key), time.time(), claim=False)
            if offset is not None:
                self._ENTRY.pack_into(mapped, offset, 0, 0.0, 0, 0)
