"""Audio at the edge: joining sentences, resampling and encoding."""

from tts.audio.encode import FORMATS, SAMPLE_RATES, encode, resample
from tts.audio.join import join

__all__ = ["FORMATS", "SAMPLE_RATES", "encode", "join", "resample"]
