from __future__ import annotations

import struct
import zlib

import pytest

from cache.entry import HEADER_SIZE, CachedAudio, pack, unpack

ENTRY = CachedAudio(data=b"RIFF" + bytes(range(256)) * 40, duration_s=1.25,
                    meta=b'{"durations": [0.1, 0.2]}')


def test_round_trip_is_byte_identical() -> None:
    raw = pack(ENTRY)
    assert len(raw) == HEADER_SIZE + ENTRY.size
    assert raw.endswith(ENTRY.data + ENTRY.meta)  # raw bytes, no base64
    assert unpack(raw) == ENTRY


def test_version_1_values_still_read() -> None:
    prefix = struct.pack(">4sBdI", b"TTSA", 1, 2.5, 3)
    raw = prefix + struct.pack(">I", zlib.crc32(b"abc", zlib.crc32(prefix))) + b"abc"
    assert unpack(raw) == CachedAudio(data=b"abc", duration_s=2.5)


def test_empty_audio_round_trips() -> None:
    empty = CachedAudio(data=b"", duration_s=0.0)
    assert unpack(pack(empty)) == empty


@pytest.mark.parametrize("cut", [0, 1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 10, -1])
def test_truncated_is_none(cut: int) -> None:
    assert unpack(pack(ENTRY)[:cut]) is None


def test_trailing_garbage_is_none() -> None:
    assert unpack(pack(ENTRY) + b"x") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"hello",
        b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64),  # a bare WAV someone else stored
        b"TTSA" + bytes(40),  # our magic but nonsense after it
    ],
)
def test_foreign_is_none(raw: bytes) -> None:
    assert unpack(raw) is None


def test_other_version_is_none() -> None:
    raw = bytearray(pack(ENTRY))
    raw[4] = 99
    assert unpack(bytes(raw)) is None


@pytest.mark.parametrize("offset", [5, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 500, -1])
def test_flipped_bit_is_none(offset: int) -> None:
    raw = bytearray(pack(ENTRY))
    raw[offset] ^= 0x01
    assert unpack(bytes(raw)) is None
