"""A stand-in for ModelScope's Sambert text-to-speech pipeline, at the ModelScope boundary.

ModelScope's stack cannot be installed here (Python 3.10 only, kantts/ttsfrd from
its own wheel index), so tests use this object in its place. It has the real call
signature, ``p(input=ssml_or_text, voice=name) -> {OutputKeys.OUTPUT_WAV: bytes}``,
and returns a real 16-bit mono 16 kHz WAV file: a tone whose pitch depends on the
voice and emotion and whose length grows with the text, so tests can tell what
reached it. It records every call and fails like the real one would on unknown
voices.
"""

from __future__ import annotations

import html
import io
import re
import threading
import time

import numpy as np
import soundfile as sf

OUTPUT_WAV = "output_wav"  # modelscope.outputs.OutputKeys.OUTPUT_WAV
VOICES = ("zhitian_emo", "zhiyan_emo", "zhizhe_emo", "zhibei_emo")
SECONDS_PER_CHAR = 0.05
EMOTION_HZ = {"neutral": 200.0, "happy": 260.0, "sad": 160.0, "angry": 240.0, "fear": 230.0,
              "hate": 180.0, "surprise": 280.0, "calm": 190.0, "serious": 170.0}


class StandInSambertPipeline:
    """Built by the engine's pipeline factory: ``StandInSambertPipeline(model_dir, device)``."""

    def __init__(self, model_dir: str, device: str) -> None:
        self.model_dir = model_dir
        self.device = device
        self.calls: list[tuple[str, str]] = []
        self.active = 0
        self.max_active = 0
        self.delay_s = 0.0
        self._count_lock = threading.Lock()

    def __call__(self, *, input: str, voice: str) -> dict[str, bytes]:
        if voice not in VOICES:
            raise KeyError(f"voice {voice} not found")
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay_s)
            self.calls.append((input, voice))
            return {OUTPUT_WAV: tone_wav(input)}
        finally:
            with self._count_lock:
                self.active -= 1


def spoken_text(ssml: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", ssml))


def tone_wav(ssml: str) -> bytes:
    emotion = re.search(r'category="([a-z]+)"', ssml)
    hz = EMOTION_HZ[emotion[1] if emotion else "neutral"]
    seconds = 0.1 + SECONDS_PER_CHAR * len(spoken_text(ssml))
    t = np.arange(int(16000 * seconds)) / 16000
    audio = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    out = io.BytesIO()
    sf.write(out, audio, 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()
