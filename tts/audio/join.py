"""Join per-sentence audio into one utterance without clicks or clipping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FADE_S = 0.005
PEAK = 0.97


def fade_edges(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short raised-cosine fades so a cut at a piece's edge never clicks."""
    n = min(int(FADE_S * sample_rate), len(audio) // 2)
    if n == 0:
        return audio
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    out = audio.astype(np.float32, copy=True)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def join(pieces: Sequence[np.ndarray], pauses_s: Sequence[float], sample_rate: int) -> np.ndarray:
    """Concatenate pieces with `pauses_s[i]` seconds of silence after piece i."""
    parts: list[np.ndarray] = []
    for audio, pause in zip(pieces, pauses_s, strict=True):
        parts.append(fade_edges(audio, sample_rate))
        if pause > 0:
            parts.append(np.zeros(round(pause * sample_rate), dtype=np.float32))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return limit_peak(np.concatenate(parts))


def limit_peak(audio: np.ndarray) -> np.ndarray:
    """Scale the whole utterance down if it would reach full scale (no hard clipping)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > PEAK:
        return (audio * (PEAK / peak)).astype(np.float32)
    return audio
