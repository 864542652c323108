"""The cached value and its byte layout in Redis.

Layout (big-endian): magic ``TTSA`` | version u8 | duration f64 | length u32 |
meta length u32 | crc32 u32, then ``length`` bytes of audio and the meta bytes (the
timing of what was said). The CRC covers the header fields before it, the audio and
the meta, so a truncated write, a flipped bit or a value some other program stored
under the same key all read back as "no entry" instead of garbage audio. Version 1
values (no meta field) still read back, with empty meta.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"TTSA"
VERSION = 2
_PREFIXES = {
    1: struct.Struct(">4sBdI"),  # magic, version, duration, length
    2: struct.Struct(">4sBdII"),  # ... and meta length
}
_CRC = struct.Struct(">I")
_VERSION_AT = 4
HEADER_SIZE = _PREFIXES[VERSION].size + _CRC.size
_MAX_LEN = 0xFFFFFFFF


@dataclass(frozen=True)
class CachedAudio:
    """One synthesized response, exactly as sent to the caller."""

    data: bytes  # encoded audio exactly as sent to the caller
    duration_s: float
    meta: bytes = b""  # JSON: when each part of the text is spoken (empty: not known)

    @property
    def size(self) -> int:
        """Bytes held, what the memory tier's bound counts."""
        return len(self.data) + len(self.meta)


def pack(entry: CachedAudio) -> bytes:
    """Header + data + meta, ready to store as one Redis string."""
    if entry.size > _MAX_LEN:
        raise ValueError(f"audio too large to cache: {entry.size} bytes")
    prefix = _PREFIXES[VERSION].pack(MAGIC, VERSION, float(entry.duration_s), len(entry.data),
                                     len(entry.meta))
    crc = zlib.crc32(entry.meta, zlib.crc32(entry.data, zlib.crc32(prefix)))
    return b"".join((prefix, _CRC.pack(crc), entry.data, entry.meta))


def unpack(raw: bytes) -> CachedAudio | None:
    """The entry, or None for truncated, corrupted or foreign values."""
    if len(raw) <= _VERSION_AT or raw[:_VERSION_AT] != MAGIC:
        return None
    prefix = _PREFIXES.get(raw[_VERSION_AT])
    if prefix is None or len(raw) < prefix.size + _CRC.size:
        return None
    view = memoryview(raw)
    _, _, duration, length, *rest = prefix.unpack_from(view, 0)
    meta_length = rest[0] if rest else 0
    header = prefix.size + _CRC.size
    if len(raw) - header != length + meta_length:
        return None
    if not math.isfinite(duration) or duration < 0:
        return None
    (crc,) = _CRC.unpack_from(view, prefix.size)
    data = bytes(view[header:header + length])
    meta = bytes(view[header + length:])
    if zlib.crc32(meta, zlib.crc32(data, zlib.crc32(view[:prefix.size]))) != crc:
        return None
    return CachedAudio(data=data, duration_s=duration, meta=meta)
