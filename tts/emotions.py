"""Emotions as prosody presets over the embedded voice's controls.

The Baker voice has a single speaking style, so an emotion is rendered as a
change of speaking rate, pitch register, pitch range, energy and loudness.
`intensity` scales the distance from neutral: 0 is neutral, 1 the full preset,
up to 2 for more (kept positive).
"""

from __future__ import annotations

from dataclasses import dataclass

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fear",
    "hate",
    "surprise",
    "calm",
    "serious",
)


@dataclass(frozen=True)
class Prosody:
    """How to say one sentence.

    `speed`, `f0` and `energy` are multipliers fed to the acoustic model (>1 speed
    is faster speech). The model's F0 ratio scales the pitch contour's excursions
    around the speaker's mean (liveliness), not the mean itself, so `pitch` moves
    the register: the ONNX engine shifts its output by that ratio. The model's
    energy ratio changes timbre (brighter, pressed) more than loudness, so `gain`
    scales the output samples where loudness is wanted; the synthesizer applies
    it, engines ignore it. `emotion` and
    `intensity` are for engines that render emotion themselves (Sambert).
    `tight_start` and `tight_end` ask for little of the voice's own edge silence on
    that side: the sentence joins a neighbour cut from the same clause, where a
    reader makes almost no pause.
    """

    speed: float = 1.0
    f0: float = 1.0
    energy: float = 1.0
    pitch: float = 1.0
    gain: float = 1.0
    emotion: str = "neutral"
    intensity: float = 1.0
    tight_start: bool = False
    tight_end: bool = False


# Tuned by measurement, not by ear: bench/emotions.py (table in bench/results/emotions.md).
# speed: speaking rate; f0: pitch-contour range; pitch: register; energy: the
# model's (timbre); gain: loudness of the output.
PRESETS: dict[str, Prosody] = {
    "neutral": Prosody(),
    "happy": Prosody(speed=1.10, f0=1.30, energy=1.15, pitch=1.10, gain=1.12),
    "sad": Prosody(speed=0.82, f0=0.70, energy=0.80, pitch=0.92, gain=0.75),
    "angry": Prosody(speed=1.15, f0=1.20, energy=1.40, pitch=1.04, gain=1.60),
    "fear": Prosody(speed=1.12, f0=1.15, energy=0.85, pitch=1.08, gain=0.85),
    "hate": Prosody(speed=0.90, f0=0.85, energy=1.20, pitch=0.95, gain=1.10),
    "surprise": Prosody(speed=1.05, f0=1.45, energy=1.20, pitch=1.14, gain=1.20),
    "calm": Prosody(speed=0.90, f0=0.80, energy=0.90, pitch=0.97, gain=0.85),
    "serious": Prosody(speed=0.93, f0=0.85, energy=1.05, pitch=0.95, gain=1.00),
}


def prosody_for(emotion: str, intensity: float = 1.0) -> Prosody:
    """The preset for `emotion`, moved toward neutral (or beyond) by `intensity`."""
    preset = PRESETS[emotion]

    def scale(value: float) -> float:
        return max(0.05, 1.0 + (value - 1.0) * intensity)

    return Prosody(speed=scale(preset.speed), f0=scale(preset.f0), energy=scale(preset.energy),
                   pitch=scale(preset.pitch), gain=scale(preset.gain), emotion=emotion,
                   intensity=intensity)
