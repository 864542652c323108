"""The cached value and its byte layout in Redis.

Layout (big-endian): magic ``TTSA`` | version u8 | duration f64 | length u32 | crc32 u32,
then ``length`` bytes of audio. The CRC covers the header fields before it and the
audio, so a truncated write, a flipped bit or a value some other program stored under
the same key all read back as "no entry" instead of garbage audio.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"TTSA"
VERSION = 1
_PREFIX = struct.Struct(">4sBdI")  # magic, version, duration, length
_CRC = struct.Struct(">I")
HEADER_SIZE = _PREFIX.size + _CRC.size
_MAX_LEN = 0xFFFFFFFF


@dataclass(frozen=True)
class CachedAudio:
    """One synthesized response, exactly as sent to the caller."""

    data: bytes  # encoded audio exactly as sent to the caller
    duration_s: float


def pack(entry: CachedAudio) -> bytes:
    """Header + data, ready to store as one Redis string."""
    if len(entry.data) > _MAX_LEN:
        raise ValueError(f"audio too large to cache: {len(entry.data)} bytes")
    prefix = _PREFIX.pack(MAGIC, VERSION, float(entry.duration_s), len(entry.data))
    crc = zlib.crc32(entry.data, zlib.crc32(prefix))
    return b"".join((prefix, _CRC.pack(crc), entry.data))


def unpack(raw: bytes) -> CachedAudio | None:
    """The entry, or None for truncated, corrupted or foreign values."""
    if len(raw) < HEADER_SIZE:
        return None
    view = memoryview(raw)
    magic, version, duration, length = _PREFIX.unpack_from(view, 0)
    if magic != MAGIC or version != VERSION:
        return None
    if len(raw) - HEADER_SIZE != length:
        return None
    if not math.isfinite(duration) or duration < 0:
        return None
    (crc,) = _CRC.unpack_from(view, _PREFIX.size)
    data = bytes(view[HEADER_SIZE:])
    if zlib.crc32(data, zlib.crc32(view[: _PREFIX.size])) != crc:
        return None
    return CachedAudio(data=data, duration_s=duration)
