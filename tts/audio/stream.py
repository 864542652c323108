"""Incremental encoding for streamed responses: bytes leave as soon as audio exists.

WAV gets a header whose sizes say "unknown length" (0xFFFFFFFF), which players
and decoders accept for streams; PCM is raw. MP3 and Ogg/Opus go through
libsndfile writing into a sink that hands out each new byte as it is written.
MP3 starts with an info frame that libsndfile fills in only at the end; a zeroed
one confuses decoders, so a stream leaves it out (its first write) and starts at
the first audio frame. Ogg pages leave as libsndfile completes them (about one a
second). FLAC (its header is patched at the end) and AAC are sent complete.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf
import soxr

from tts.audio.encode import FORMATS, encode, to_int16

UNKNOWN_SIZE = 0xFFFFFFFF
SENT_WHOLE = ("flac", "aac")  # formats that are sent only once complete


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 44-byte PCM16 mono WAV header with unknown RIFF and data sizes."""
    byte_rate = sample_rate * 2
    return (b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
            + b"data" + struct.pack("<I", UNKNOWN_SIZE))


class _Sink(io.RawIOBase):
    """A seekable write target that releases bytes once, in order."""

    def __init__(self, *, skip_first_write: bool = False) -> None:
        self._buffer = bytearray()
        self._position = 0
        self._sent = 0
        self._skip_next = skip_first_write

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return 0  # libsndfile probes by reading; there is nothing to read back

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        end = self._position + len(chunk)
        if self._skip_next:  # pretend it was written and already sent
            self._skip_next = False
            self._buffer.extend(bytes(end - len(self._buffer)))
            self._position = self._sent = end
            return len(chunk)
        if end > len(self._buffer):
            self._buffer.extend(bytes(end - len(self._buffer)))
        start = max(self._position, self._sent)  # bytes before `_sent` are gone already
        if start < end:
            self._buffer[start:end] = chunk[start - self._position:]
        self._position = end
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._buffer)}
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = bytes(self._buffer[self._sent:])
        self._sent = len(self._buffer)
        return out


class StreamEncoder:
    """Float blocks at `source_rate` in, encoded bytes at `sample_rate` out, block by block."""

    def __init__(self, fmt: str, source_rate: int, sample_rate: int) -> None:
        self.spec = FORMATS[fmt]
        self.sample_rate = sample_rate
        self._resampler = (None if source_rate == sample_rate else
                           soxr.ResampleStream(source_rate, sample_rate, 1, dtype="float32",
                                               quality="HQ"))
        self._sink: _Sink | None = None
        self._file: sf.SoundFile | None = None
        self.sent_audio: list[np.ndarray] = []  # exactly what was encoded, for the cache

    def start(self) -> bytes:
        if self.spec.name == "wav":
            return streaming_wav_header(self.sample_rate)
        if self.spec.container is not None and self.spec.name not in SENT_WHOLE:
            self._sink = _Sink(skip_first_write=self.spec.name == "mp3")
            self._file = sf.SoundFile(self._sink, mode="w", samplerate=self.sample_rate,
                                      channels=1, format=self.spec.container,
                                      subtype=self.spec.subtype)
            return self._sink.take()
        return b""

    def encode(self, block: np.ndarray, *, last: bool = False) -> bytes:
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block, last=last)
        if not len(block):
            return b""
        self.sent_audio.append(block)
        if self.spec.name in SENT_WHOLE:
            return b""
        if self._file is None:
            return to_int16(block).tobytes()
        assert self._sink is not None
        self._file.write(to_int16(block))
        return self._sink.take()

    def finish(self) -> bytes:
        tail = self.encode(np.zeros(0, dtype=np.float32), last=True)
        if self.spec.name in SENT_WHOLE:
            return encode(self.audio(), self.sample_rate, self.spec.name)
        if self._file is None:
            return tail
        assert self._sink is not None
        self._file.close()
        return tail + self._sink.take()

    def audio(self) -> np.ndarray:
        """Everything encoded so far, as one float array at the output rate."""
        if not self.sent_audio:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self.sent_audio)
