"""Audio edge: every format decodes at the asked rate, joins are click-free, no clipping."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from tts.audio import FORMATS, encode, join, resample
from tts.audio.stretch import speed_up
from tts.testing.prosody import yin

RATE = 24000


def tone(seconds: float, freq: float = 220.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    """libsndfile for what it reads; FFmpeg (PyAV) for AAC."""
    if fmt != "aac":
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        return audio, rate
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    return np.concatenate(frames).astype(np.float32), rate


@pytest.mark.parametrize(("fmt", "rate"), [
    (name, rate) for name, spec in FORMATS.items() if name != "pcm" for rate in spec.sample_rates
])
def test_every_container_decodes_at_the_asked_rate(fmt: str, rate: int) -> None:
    # Through `join`, as the service does: its edge fades matter to lossy codecs,
    # which overshoot (Opus: to 1.3 at 24 kHz) on a signal cut off at full level.
    audio = resample(join([tone(1.0)], [0.0], RATE), RATE, rate)
    decoded, got_rate = decode(encode(audio, rate, fmt), fmt)
    assert got_rate == rate
    # Lossy codecs add priming samples: within 100 ms, or for AAC (which cannot signal
    # its 1024-sample priming in ADTS) two AAC frames.
    assert abs(len(decoded) - rate) < (2048 if fmt == "aac" else rate * 0.1)
    assert 0.3 < np.max(np.abs(decoded)) < 0.8  # lossy codecs move peaks a little


def test_pcm_is_raw_little_endian_int16() -> None:
    audio = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=np.float32)
    raw = encode(audio, RATE, "pcm")
    assert np.frombuffer(raw, "<i2").tolist() == [0, 16384, -16384, 32767, -32767, 32767]


def test_resample_keeps_duration() -> None:
    for rate in (8000, 16000, 22050):
        assert abs(len(resample(tone(2.0), RATE, rate)) - 2 * rate) <= 1


def test_join_inserts_the_pauses_and_fades_the_edges() -> None:
    pieces = [tone(0.5), tone(0.3)]
    out = join(pieces, [0.25, 0.0], RATE)
    assert len(out) == int(0.5 * RATE) + int(0.25 * RATE) + int(0.3 * RATE)
    assert out[0] == 0.0 and abs(out[int(0.5 * RATE) - 1]) < 1e-3
    gap = out[int(0.5 * RATE): int(0.75 * RATE)]
    assert not gap.any()
    # No sample-to-sample jump bigger than the sine itself produces: no click.
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(tone(0.5)))) + 1e-6


def test_join_never_clips_and_leaves_normal_levels_alone() -> None:
    loud = join([tone(0.5, amplitude=1.6)], [0.0], RATE)
    assert np.max(np.abs(loud)) < 1.0
    pcm = np.frombuffer(encode(loud, RATE, "pcm"), "<i2").astype(np.int32)
    assert np.max(np.abs(pcm)) < 32767
    normal = tone(0.5, amplitude=0.8)
    joined = join([normal], [0.0], RATE)
    middle = slice(1000, len(normal) - 1000)
    assert np.array_equal(joined[middle], normal[middle])


@pytest.mark.parametrize("factor", [1.1, 1.25, 1.6])
def test_speed_up_shortens_exactly_and_keeps_the_pitch(factor: float) -> None:
    source = tone(2.0)
    faster = speed_up(source, RATE, factor)
    assert len(faster) == round(len(source) / factor)
    f0 = yin(faster, RATE)
    assert np.median(f0[f0 > 0]) == pytest.approx(220, rel=0.02)
    assert np.max(np.abs(faster)) <= 1.0


def test_speed_up_handles_short_and_unchanged_audio() -> None:
    blip = np.full(100, 0.1, dtype=np.float32)  # shorter than the stretcher's own blocks
    assert len(speed_up(blip, RATE, 1.5)) == 67
    assert speed_up(blip, RATE, 1.0) is blip
