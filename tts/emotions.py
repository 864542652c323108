"""Emotions as prosody presets over the embedded voice's three controls.

The Baker voice has a single speaking style, so an emotion is rendered as a
change of speaking rate, pitch (F0 ratio) and energy. `intensity` scales the
distance from neutral: 0 is neutral, 1 the full preset, up to 2 for more.
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
    is faster speech). The model's energy ratio changes timbre (brighter, pressed)
    more than loudness, so `gain` scales the output samples where loudness is
    wanted; the synthesizer applies it, engines ignore it. `emotion` and
    `intensity` are for engines that render emotion themselves (Sambert).
    """

    speed: float = 1.0
    f0: float = 1.0
    energy: float = 1.0
    gain: float = 1.0
    emotion: str = "neutral"
    intensity: float = 1.0


PRESETS: dict[str, Prosody] = {
    "neutral": Prosody(),
    "happy": Prosody(speed=1.10, f0=1.15, energy=1.15),
    "sad": Prosody(speed=0.85, f0=0.88, energy=0.80),
    "angry": Prosody(speed=1.15, f0=1.05, energy=1.35),
    "fear": Prosody(speed=1.10, f0=1.12, energy=0.85),
    "hate": Prosody(speed=0.95, f0=0.92, energy=1.20),
    "surprise": Prosody(speed=1.05, f0=1.22, energy=1.20),
    "calm": Prosody(speed=0.90, f0=0.97, energy=0.90),
    "serious": Prosody(speed=0.95, f0=0.94, energy=1.05),
}


def prosody_for(emotion: str, intensity: float = 1.0) -> Prosody:
    """The preset for `emotion`, moved toward neutral (or beyond) by `intensity`."""
    preset = PRESETS[emotion]

    def scale(value: float) -> float:
        return 1.0 + (value - 1.0) * intensity

    return Prosody(speed=scale(preset.speed), f0=scale(preset.f0), energy=scale(preset.energy),
                   gain=scale(preset.gain), emotion=emotion, intensity=intensity)
