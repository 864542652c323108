"""Float audio -> the bytes a caller asked for.

Everything upstream works on float32 mono in [-1, 1] at the voice's rate; this
module is the one edge where audio becomes int16, gets resampled with soxr and
is wrapped in a container.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from tts.audio.aac import encode_aac

SAMPLE_RATES = (8000, 16000, 22050, 24000)


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    container: str | None  # libsndfile format; None for headerless PCM
    subtype: str
    sample_rates: tuple[int, ...] = SAMPLE_RATES


FORMATS: dict[str, AudioFormat] = {
    "wav": AudioFormat("wav", "audio/wav", "WAV", "PCM_16"),
    "pcm": AudioFormat("pcm", "audio/L16", None, "PCM_16"),
    "flac": AudioFormat("flac", "audio/flac", "FLAC", "PCM_16"),
    "mp3": AudioFormat("mp3", "audio/mpeg", "MP3", "MPEG_LAYER_III"),
    # Opus encodes only at 8, 12, 16, 24 or 48 kHz.
    "ogg": AudioFormat("ogg", "audio/ogg", "OGG", "OPUS", (8000, 16000, 24000)),
    "aac": AudioFormat("aac", "audio/aac", "ADTS", "AAC"),  # via PyAV, see tts/audio/aac.py
}


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return audio
    return np.asarray(soxr.resample(audio, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode float audio already at `sample_rate` into `fmt` (a key of FORMATS)."""
    spec = FORMATS[fmt]
    if spec.container is None:
        return to_int16(audio).tobytes()
    if spec.name == "aac":
        return encode_aac(to_int16(audio), sample_rate)
    buffer = io.BytesIO()
    sf.write(buffer, to_int16(audio), sample_rate, format=spec.container, subtype=spec.subtype)
    return buffer.getvalue()
