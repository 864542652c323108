"""Emotion presets on the embedded voice, measured: mean F0, F0 spread, RMS, speaking rate.

    .venv/bin/python -m bench.emotions [--sentences 20] [--write]

Each preset says the first N lines of bench/corpus.txt (each line one request, as
the service would: front end, engine, output gain, join; tts.testing.emotions).
Per line the YIN pitch tracker in tts/testing/prosody.py gives the mean and
standard deviation of F0 over voiced frames, the RMS of the speech (pauses left
out) and syllables per second of audio; the table shows the mean over lines and
the change against neutral.
`--write` also writes bench/results/emotions.md.
"""

from __future__ import annotations

import argparse
import platform
import time

from bench.results_md import RESULTS_DIR
from tts.emotions import EMOTIONS, PRESETS
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.testing.emotions import Row, corpus_lines, measure_emotion
from tts.voices.build import default_voice_dir

COMMAND = ".venv/bin/python -m bench.emotions --sentences 20 --write"


def pct(value: float, base: float) -> str:
    return f"{(value / base - 1) * 100:+.1f}%"


def table(rows: list[Row]) -> str:
    base = next(r for r in rows if r.emotion == "neutral")
    out = ["| emotion | preset (speed, f0 range, pitch, energy, gain) | mean F0 Hz | "
           "F0 std Hz | RMS dBFS | syllables/s |",
           "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        p = PRESETS[r.emotion]
        preset = f"{p.speed:g}, {p.f0:g}, {p.pitch:g}, {p.energy:g}, {p.gain:g}"
        if r is base:
            out.append(f"| {r.emotion} | {preset} | {r.f0_mean_hz:.1f} | {r.f0_std_hz:.1f} | "
                       f"{r.rms_db:.1f} | {r.syllables_per_s:.2f} |")
            continue
        out.append(
            f"| {r.emotion} | {preset} | {r.f0_mean_hz:.1f} ({pct(r.f0_mean_hz, base.f0_mean_hz)})"
            f" | {r.f0_std_hz:.1f} ({pct(r.f0_std_hz, base.f0_std_hz)})"
            f" | {r.rms_db:.1f} ({r.rms_db - base.rms_db:+.1f} dB)"
            f" | {r.syllables_per_s:.2f} ({pct(r.syllables_per_s, base.syllables_per_s)}) |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="write bench/results/emotions.md")
    args = parser.parse_args()
    engine = OnnxEngine.load(default_voice_dir(), device="cpu", threads=2)
    frontend = Frontend(*engine.symbol_tables())
    lines = corpus_lines(args.sentences)
    started = time.perf_counter()
    rows = [measure_emotion(engine, frontend, lines, emotion) for emotion in EMOTIONS]
    text = table(rows)
    print(text)
    print(f"({len(lines)} sentences x {len(rows)} presets in "
          f"{time.perf_counter() - started:.0f} s)")
    if args.write:
        doc = (
            "# Emotion presets on the embedded voice, measured\n\n"
            f"- command: `{COMMAND}`\n"
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"Python {platform.python_version()}, voice `{engine.voice.name}` "
            f"({engine.model_hash})\n"
            f"- corpus: the first {len(lines)} lines of `bench/corpus.txt`, each said as one "
            "request (front end, engine, output gain, join)\n"
            "- measures (tts/testing/prosody.py): mean and standard deviation of F0 over voiced "
            "10 ms frames (YIN, 70-500 Hz), RMS of the speech with pauses under -45 dBFS "
            "left out, syllables per second of returned audio; each the mean over lines, "
            "in brackets the change against neutral\n\n"
            f"{text}\n"
        )
        (RESULTS_DIR / "emotions.md").write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
