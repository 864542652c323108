"""How the pauses between pieces sound: measured silences at every kind of join.

    python -m bench.joins [--limit N]

Corpus lines go through `POST /api/tts` with timestamps; each join between two
pieces is classed by the pause the planner gave it (a cut inside a clause, a clause
mark, a sentence end), and a comma the voice says inside one piece is measured
too. The silence at each place is read off the audio (10 ms frames under an RMS
level), so the figures are what a listener hears, edge silence of the voice
included. Writes bench/results/joins.md and joins.png (waveform and spectrogram of
one line, joins marked), the picture to check for clicks and odd gaps.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from flask import Flask

from app import create_app
from bench.run_info import git_commit, machine
from config import Settings
from tts.frontend.pieces import CLAUSE_PAUSE_S, SENTENCE_PAUSE_S, WORD_PAUSE_S
from tts.testing.texts import load_corpus
from tts.voices.build import default_voice_dir

RESULTS = Path(__file__).resolve().parent / "results"
QUIET = 0.01  # RMS of a 10 ms frame under which it counts as silence
KINDS = {WORD_PAUSE_S: "cut inside a clause", CLAUSE_PAUSE_S: "clause mark between pieces",
         SENTENCE_PAUSE_S: "sentence end"}
COMMA = "comma inside one piece (the voice's own pause)"
PICTURE_LINE = "预计本周四至周六北方大部分地区气温将下降八到十二摄氏度，请大家注意保暖。明天见！"


def speak(app: Flask, text: str) -> tuple[np.ndarray, int, dict[str, Any], list[Any]]:
    client = app.test_client()
    result = client.post("/api/tts", json={"text": text, "timestamps": True}).get_json()
    audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio"])), dtype="float32")
    plan = client.post("/api/frontend", json={"text": text}).get_json()["sentences"]
    return np.asarray(audio), int(rate), result, plan


def silence_around(level: np.ndarray, at_s: float) -> float:
    """Length in seconds of the quiet run of 10 ms frames that contains `at_s`."""
    k = min(int(at_s * 100), len(level) - 1)
    if level[k] >= QUIET:
        return 0.0
    lo = hi = k
    while lo > 0 and level[lo - 1] < QUIET:
        lo -= 1
    while hi < len(level) - 1 and level[hi + 1] < QUIET:
        hi += 1
    return (hi - lo + 1) / 100


def measure(audio: np.ndarray, rate: int, result: dict[str, Any], plan: list[Any],
            found: dict[str, list[float]]) -> None:
    step = rate // 100
    level = np.sqrt(np.mean(audio[:len(audio) // step * step].reshape(-1, step) ** 2, axis=1))
    passes = result["sentences"]
    for piece, before, after in zip(plan, passes, passes[1:], strict=False):
        middle = (before["end"] + after["start"]) / 2
        found[KINDS[piece["pause_s"]]].append(silence_around(level, middle))
    units = result["alignment"]
    text = result["text"]
    for before, after in itertools.pairwise(units):
        between = text[before["offset"] + before["length"]:after["offset"]]
        same_piece = not any(before["end"] < p["start"] <= after["start"] for p in passes)
        if "，" in between and same_piece and after["start"] > before["end"]:
            found[COMMA].append(silence_around(level, (before["end"] + after["start"]) / 2))


def picture(app: Flask, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio, rate, result, _ = speak(app, PICTURE_LINE)
    fig, (wave, spec) = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
    wave.plot(np.arange(len(audio)) / rate, audio, lw=0.3)
    spec.specgram(audio + 1e-7, Fs=rate, NFFT=512, noverlap=384, cmap="magma")
    spec.set_ylim(0, 8000)
    for piece in result["sentences"][1:]:
        for ax in (wave, spec):
            ax.axvline(piece["start"], color="lime", lw=0.8)
    wave.set_title("pieces of one line (green: where a piece's audio starts)")
    spec.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def render(found: dict[str, list[float]], lines: int) -> str:
    rows = [f"| {kind} | {len(v)} | {np.median(v) * 1000:.0f} ms | "
            f"{np.percentile(v, 10) * 1000:.0f}-{np.percentile(v, 90) * 1000:.0f} ms |"
            for kind, v in found.items() if v]
    return "\n".join([
        "# Pauses at joins",
        "",
        f"- command: `python -m bench.joins --limit {lines}`; code: {git_commit()}; "
        f"machine: {machine()}",
        f"- silence heard at each join of {lines} corpus lines (10 ms frames under RMS "
        f"{QUIET}; the voice's own edge silence included). The planner adds "
        f"{WORD_PAUSE_S * 1000:.0f} / {CLAUSE_PAUSE_S * 1000:.0f} / "
        f"{SENTENCE_PAUSE_S * 1000:.0f} ms after a cut inside a clause / a clause mark / "
        "a sentence end.",
        "",
        "| where | joins | median silence | 10th-90th percentile |",
        "|---|---|---|---|",
        *rows,
        "",
        "![one line's joins](joins.png)",
        "",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.joins", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=100, help="corpus lines to use")
    args = parser.parse_args(argv)
    app = create_app(Settings.from_env({"TTS_VOICE_DIR": str(default_voice_dir())},
                                       cache_memory_bytes=0))
    if not app.extensions["tts"].wait_ready(180):
        raise RuntimeError(app.extensions["tts"].error)
    found: dict[str, list[float]] = defaultdict(list)
    texts = load_corpus()[:args.limit]
    for text in texts:
        audio, rate, result, plan = speak(app, text)
        measure(audio, rate, {**result, "text": text}, plan, found)
    RESULTS.mkdir(exist_ok=True)
    picture(app, RESULTS / "joins.png")
    ordered = {kind: found[kind] for kind in [*KINDS.values(), COMMA]}
    report = render(ordered, len(texts))
    (RESULTS / "joins.md").write_text(report, encoding="utf-8")
    print(report)
    app.extensions["tts"].close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
