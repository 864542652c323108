"""Synthesis engines behind one interface (`base.Engine`), chosen by `ENGINE`."""

from __future__ import annotations

from config import Settings
from tts.engines.base import Engine, EngineError


def load_engine(settings: Settings) -> Engine:
    """Build the configured engine; raises EngineError with what to fix."""
    if settings.engine == "onnx":
        from tts.engines.onnx_engine import OnnxEngine

        return OnnxEngine.load(settings.tts_voice_dir, device=settings.device,
                               threads=settings.ort_threads)
    raise EngineError(f"ENGINE={settings.engine!r} is not available in this build")


__all__ = ["Engine", "EngineError", "load_engine"]
