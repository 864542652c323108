"""The embedded voice: how it is built (`build`) and how it is read (`manifest`)."""

from tts.voices.manifest import Voice, VoiceError

__all__ = ["Voice", "VoiceError"]
