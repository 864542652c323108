"""Speech faster than the voice says well: shorten what it says at its own limit.

Asked for speed, the acoustic model shortens every phone alike. Beyond about 1.25x
the shortest consonants are left a frame or two and listeners lose syllables, and
giving consonants more time at the vowels' expense was worse still (bench/results/
intelligibility.md). Rubber Band's R3 ("finer") engine shortens finished audio
without moving pitch or formants and keeps consonant onsets crisp, so the engine
says a sentence at its limit and this module takes it the rest of the way.

Rubber Band and its binding are GPL-2.0-or-later (docs/text-controls.md, "Speed").
"""

from __future__ import annotations

import numpy as np
import pylibrb

# Shorter inputs come back empty: padded with silence to this, and cut after.
_MIN_SAMPLES = 4096
_OPTIONS = (pylibrb.Option.PROCESS_OFFLINE | pylibrb.Option.ENGINE_FINER
            | pylibrb.Option.FORMANT_PRESERVED | pylibrb.Option.THREADING_NEVER)


def speed_up(audio: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Mono float `audio` played `factor` times faster at the same pitch, in one
    offline pass (it sees the whole sentence, so the result does not depend on how
    a caller would have cut it). Runs without the GIL."""
    if factor == 1.0 or audio.size == 0:
        return audio
    stretcher = pylibrb.RubberBandStretcher(sample_rate, 1, _OPTIONS,
                                            initial_time_ratio=1.0 / factor)
    stretcher.set_logging_level(0)  # its buffer notices go to stderr, not our log
    wanted = round(audio.size / factor)
    samples = np.zeros((1, max(audio.size, _MIN_SAMPLES)), dtype=np.float32)
    samples[0, :audio.size] = audio
    stretcher.set_expected_input_duration(samples.shape[1])
    stretcher.set_max_process_size(samples.shape[1])
    stretcher.study(samples, final=True)
    stretcher.process(samples, final=True)
    out: np.ndarray = stretcher.retrieve_available()[0, :wanted]
    return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)
