"""Join per-sentence audio into one utterance without clicks or clipping.

Every step here works sample by sample or on one piece's own edges, so the
streamed path (which sees pieces chunk by chunk) produces the same samples as
the whole-utterance path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FADE_S = 0.005
KNEE = 0.9  # below this level samples pass unchanged
CEILING = 0.99  # louder samples approach this, so int16 never pins at full scale


def _ramp(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)


def fade(audio: np.ndarray, sample_rate: int, *, start: bool, end: bool) -> np.ndarray:
    """Short raised-cosine fades so a cut at a piece's edge never clicks."""
    n = min(int(FADE_S * sample_rate), len(audio) // 2)
    out = audio.astype(np.float32, copy=True)
    if n == 0:
        return out
    if start:
        out[:n] *= _ramp(n)
    if end:
        out[-n:] *= _ramp(n)[::-1]
    return out


def soft_limit(audio: np.ndarray) -> np.ndarray:
    """Pass samples under the knee; bend louder ones smoothly toward the ceiling."""
    magnitude = np.abs(audio)
    over = magnitude > KNEE
    if not over.any():
        return audio
    out = audio.copy()
    headroom = CEILING - KNEE
    out[over] = np.sign(audio[over]) * (KNEE + headroom * np.tanh((magnitude[over] - KNEE)
                                                                  / headroom))
    return out


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(round(seconds * sample_rate), dtype=np.float32)


def join(pieces: Sequence[np.ndarray], pauses_s: Sequence[float], sample_rate: int) -> np.ndarray:
    """Concatenate pieces with `pauses_s[i]` seconds of silence after piece i."""
    parts: list[np.ndarray] = []
    for audio, pause in zip(pieces, pauses_s, strict=True):
        parts.append(soft_limit(fade(audio, sample_rate, start=True, end=True)))
        if pause > 0:
            parts.append(silence(pause, sample_rate))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts)
