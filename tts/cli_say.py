"""`mandarin-tts say`: text to an audio file (and subtitles) through the service's own
path, with no server."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from cache import AudioCache, MemoryTier
from config import Settings, SettingsError
from tts import subtitles
from tts.audio import FORMATS
from tts.engines import EngineError, load_engine
from tts.frontend import NothingToSay
from tts.pool import InferencePool
from tts.preload import build_frontend
from tts.service import SpeechRequest, SpeechService
from tts.synthesizer import Synthesizer
from tts.voices import VoiceError


def say(args: argparse.Namespace, settings: Settings) -> float:
    text = args.file.read_text(encoding="utf-8") if args.file else args.text
    fmt = args.format or (args.output.suffix.lstrip(".") if args.output.suffix.lstrip(".")
                          in FORMATS else "wav")
    engine = load_engine(settings)
    frontend = build_frontend(settings, engine.symbol_tables())
    progress = tqdm(unit="sentence", disable=len(text) < 200)
    synthesizer = Synthesizer(frontend, engine, InferencePool(1, 0), timeout_s=3600,
                              on_sentence=lambda _: progress.update())
    # The service's own path, with a cache that keeps nothing: the file holds what
    # the HTTP routes would answer for the same request.
    service = SpeechService(synthesizer, AudioCache(MemoryTier(0)))
    rate = args.sample_rate or engine.sample_rate
    request = SpeechRequest(text=text, voice=engine.voices()[0].name, emotion=args.emotion,
                            speed=args.speed, fmt=fmt, sample_rate=rate)
    progress.total = service.planned(request).sentences
    speech = service.speak(request, timed=args.subtitles is not None)
    progress.close()
    args.output.write_bytes(speech.data)
    if args.subtitles is not None:
        kind = "vtt" if args.subtitles.suffix.lower() == ".vtt" else "srt"
        cues = subtitles.cues(service.alignment(request, speech.timing), args.max_chars)
        args.subtitles.write_text(subtitles.render(cues, kind), encoding="utf-8")
    return speech.duration_s


def say_command(args: argparse.Namespace) -> int:
    """Run `say`; the exit status: 0 written, 1 failed, 2 a bad option."""
    if not 0.5 <= args.speed <= 2.0:
        print("error: --speed must be from 0.5 to 2.0", file=sys.stderr)
        return 2
    try:
        seconds = say(args, Settings.from_env())
    except (SettingsError, EngineError, VoiceError, NothingToSay, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({seconds:.2f} s of audio)")
    return 0
