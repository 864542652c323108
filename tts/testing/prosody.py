"""Listening-free prosody measures of synthesized speech: F0 (YIN), RMS, speaking rate.

The pitch tracker is YIN (de Cheveigné & Kawahara 2002) in numpy: the difference
function of each frame from FFT cross-correlations, its cumulative-mean-normalized
form, the first dip under a threshold, refined by parabolic interpolation. It is
used by bench/emotions.py and the emotion and SSML tests (tts.testing.emotions);
nothing in the service imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F0_MIN_HZ = 70.0
F0_MAX_HZ = 500.0
FRAME_S = 0.025  # integration window
HOP_S = 0.010
YIN_THRESHOLD = 0.15
SILENCE_DB = -45.0  # frames quieter than this (dBFS) are pauses, not speech


def frames_of(audio: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Overlapping frames [n, size] (zero-padded at the end)."""
    count = max(1, 1 + (len(audio) - size) // hop)
    need = (count - 1) * hop + size
    padded = np.pad(audio.astype(np.float64), (0, max(0, need - len(audio))))
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    return padded[index]


def yin(audio: np.ndarray, sample_rate: int, *, fmin: float = F0_MIN_HZ,
        fmax: float = F0_MAX_HZ, threshold: float = YIN_THRESHOLD) -> np.ndarray:
    """F0 in Hz per 10 ms frame; 0 where the frame is unvoiced or silent."""
    width = int(FRAME_S * sample_rate)
    tau_min, tau_max = int(sample_rate / fmax), int(sample_rate / fmin) + 1
    hop = int(HOP_S * sample_rate)
    frames = frames_of(audio, width + tau_max, hop)
    n_fft = 1 << int(np.ceil(np.log2(width + tau_max + width)))
    head = np.fft.rfft(frames[:, :width], n_fft)
    whole = np.fft.rfft(frames, n_fft)
    # cross[t] = sum_j x[j] * x[j + t] for j < width
    cross = np.fft.irfft(np.conj(head) * whole, n_fft)[:, : tau_max + 1]
    squares = np.cumsum(np.pad(frames ** 2, ((0, 0), (1, 0))), axis=1)
    energy_0 = squares[:, width][:, None]
    taus = np.arange(tau_max + 1)
    energy_t = squares[:, taus + width] - squares[:, taus]
    diff = np.maximum(energy_0 + energy_t - 2.0 * cross, 0.0)
    cumulative = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, tau_max + 1)
    norm = np.ones_like(diff)
    norm[:, 1:] = diff[:, 1:] / np.maximum(cumulative, 1e-12)

    f0 = np.zeros(len(frames))
    loud = 10 * np.log10(np.maximum(energy_0[:, 0] / width, 1e-12)) > SILENCE_DB
    for i in np.flatnonzero(loud):
        row = norm[i]
        below = np.flatnonzero(row[tau_min:tau_max] < threshold)
        if not len(below):
            continue
        tau = tau_min + int(below[0])
        while tau + 1 < tau_max and row[tau + 1] < row[tau]:
            tau += 1
        a, b, c = row[tau - 1], row[tau], row[tau + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom > 1e-12 else 0.0
        f0[i] = sample_rate / (tau + float(np.clip(shift, -1, 1)))
    return f0


def rms_db(audio: np.ndarray, sample_rate: int) -> float:
    """RMS of the speech in dBFS, pauses (frames under SILENCE_DB) left out."""
    frames = frames_of(audio, int(FRAME_S * sample_rate), int(HOP_S * sample_rate))
    power = np.mean(frames ** 2, axis=1)
    speech = power[10 * np.log10(np.maximum(power, 1e-12)) > SILENCE_DB]
    if not len(speech):
        return -120.0
    return float(10 * np.log10(np.mean(speech)))


@dataclass(frozen=True)
class Measures:
    f0_mean_hz: float
    f0_std_hz: float
    rms_db: float
    syllables_per_s: float
    duration_s: float


def measure(audio: np.ndarray, sample_rate: int, syllables: int) -> Measures:
    f0 = yin(audio, sample_rate)
    voiced = f0[f0 > 0]
    duration = len(audio) / sample_rate
    return Measures(
        f0_mean_hz=float(voiced.mean()) if len(voiced) else 0.0,
        f0_std_hz=float(voiced.std()) if len(voiced) else 0.0,
        rms_db=rms_db(audio, sample_rate),
        syllables_per_s=syllables / duration if duration else 0.0,
        duration_s=duration,
    )

