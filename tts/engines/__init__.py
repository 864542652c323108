"""Synthesis engines behind one interface (`base.Engine`), chosen by `ENGINE`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings, cache_dir
from tts.engines.base import Engine, EngineError
from tts.pool import NativeCall

if TYPE_CHECKING:
    from tts.engines.sambert_engine import PipelineFactory


_EARLY: tuple[Settings, NativeCall[Engine]] | None = None


def start_loading_early(settings: Settings) -> None:
    """Start building and warming the engine on a native thread as soon as a worker is
    forked: ONNX Runtime's session building and runs are native code, mostly free of
    the GIL, and overlap the worker's import of the web app instead of following it."""
    global _EARLY
    if settings.engine != "onnx":  # Sambert's stack imports lazily: see below
        return
    # Imported here, not on the thread: under gevent, an import on a native thread that
    # meets the same import on the event loop's thread blocks the loop for good.
    from tts.engines import onnx_engine  # noqa: F401

    def load_and_warm() -> Engine:
        engine = load_engine(settings)
        engine.warm_up()
        return engine

    _EARLY = (settings, NativeCall(load_and_warm))


def take_early(settings: Settings) -> Engine | None:
    """The engine started early for these settings, if one was (at most once)."""
    global _EARLY
    early, _EARLY = _EARLY, None
    if early is None or early[0] != settings:
        return None
    return early[1].result()


def load_engine(settings: Settings, *, sambert_pipeline: PipelineFactory | None = None,
                ) -> Engine:
    """Build the configured engine; raises EngineError with what to fix.

    `sambert_pipeline` replaces the pipeline factory named by SAMBERT_PIPELINE
    (by default ModelScope's) for ENGINE=sambert.
    """
    if settings.engine == "onnx":
        from tts.engines.onnx_engine import OnnxEngine

        return OnnxEngine.load(settings.tts_voice_dir, device=settings.device,
                               threads=settings.ort_threads)
    if settings.engine == "sambert":
        from tts.engines.sambert_engine import SambertEngine, factory_from_setting

        return SambertEngine.load(
            model_dir=settings.sambert_model_dir or default_sambert_dir(settings.sambert_model_id),
            model_id=settings.sambert_model_id,
            voices=tuple(v.strip() for v in settings.sambert_voices.split(",") if v.strip()),
            tables=embedded_voice_tables(settings.tts_voice_dir),
            device=settings.device,
            download=bool(settings.sambert_download),
            factory=sambert_pipeline or factory_from_setting(settings.sambert_pipeline),
        )
    raise EngineError(f"ENGINE={settings.engine!r} is not available in this build")


def default_sambert_dir(model_id: str) -> Path:
    return cache_dir() / "sambert" / model_id


def embedded_voice_tables(voice_dir: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The Baker symbol tables from the built embedded voice's manifest.

    A text-driven engine still needs them: the service's front end plans every
    request with them (sentences, pronunciation check, cache keys).
    """
    from tts.voices import Voice, VoiceError

    try:
        voice = Voice.load(voice_dir, verify=False)
    except (VoiceError, OSError) as exc:
        raise EngineError(
            f"the front end reads its symbol tables from the embedded voice at {voice_dir}, "
            f"which is not built ({exc}): run `make voice` (or `python -m tts.voices build`)"
        ) from exc
    return voice.symbol_to_id, voice.pinyin_dict


__all__ = ["Engine", "EngineError", "load_engine"]
