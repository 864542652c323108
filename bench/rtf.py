"""Real-time factor of the embedded voice over a 100-sentence corpus, end to end.

Text -> front end -> acoustic model -> vocoder -> joined float audio, exactly the
steps the service runs for an uncached request (minus HTTP, cache and encoding).
Every configuration (voice directory x ORT threads per session) is loaded once and
all of them take turns on each corpus line, in an order that rotates per line, so
the noise of this shared machine falls on all of them alike; the ratios between
configurations are taken inside one run. Absolute RTFs move with the machine's
load, which is recorded at start and end.

    .venv/bin/python -m bench.rtf [--voice DIR ...] [--runs N] [--threads 2 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.load import ROOT, wait_for_load
from bench.results_md import RESULTS_DIR
from bench.run_info import machine
from bench.seed_baseline import RAW_VOICE
from tts.audio import join
from tts.emotions import Prosody
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.testing.procfs import loadavg
from tts.testing.texts import CORPUS, load_corpus
from tts.voices.build import default_voice_dir

_LOGGER = logging.getLogger(__name__)

RESULTS = RESULTS_DIR / "rtf.md"
ISSUE_TARGET = 0.03  # issue: median RTF
DESIGN_TARGET = 0.025  # DESIGN.md "Performance targets"
PRODUCTION_THREADS = 2  # config ORT_THREADS default


@dataclass(frozen=True)
class Sample:
    """One corpus line through one configuration: where the time went."""

    frontend_s: float
    acoustic_s: float
    vocoder_s: float
    total_s: float  # wall clock text -> joined float audio
    audio_s: float  # length of the joined audio (speech plus inserted pauses)
    speech_s: float  # the part the vocoder produced

    @property
    def rtf(self) -> float:
        return self.total_s / self.audio_s


@dataclass
class Config:
    """One voice directory at one ORT thread count, with its samples per run."""

    label: str
    voice_dir: Path
    threads: int
    engine: OnnxEngine
    frontend: Frontend
    runs: list[list[Sample]] = field(default_factory=list)

    def speak(self, text: str) -> Sample:
        started = time.perf_counter()
        sentences = self.frontend.analyze(text)
        analyzed = time.perf_counter()
        pieces: list[np.ndarray] = []
        acoustic = vocoder = 0.0
        for sentence in sentences:
            t0 = time.perf_counter()
            mel, _ = self.engine.mel(sentence.ids, Prosody())
            t1 = time.perf_counter()
            pieces.append(self.engine.vocode(mel))
            acoustic += t1 - t0
            vocoder += time.perf_counter() - t1
        audio = join(pieces, [s.pause_s for s in sentences], self.engine.sample_rate)
        total = time.perf_counter() - started
        rate = self.engine.sample_rate
        return Sample(analyzed - started, acoustic, vocoder, total, len(audio) / rate,
                      sum(len(p) for p in pieces) / rate)


@dataclass(frozen=True)
class RunStats:
    """The figures of one configuration over one pass of the corpus."""

    corpus_rtf: float  # sum of synthesis time / sum of audio time
    median_rtf: float  # per sentence
    p90_rtf: float
    acoustic_share: float  # median per sentence, of the end-to-end time
    vocoder_share: float
    frontend_ms: float  # median per sentence

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> RunStats:
        rtfs = [s.rtf for s in samples]
        return cls(
            corpus_rtf=sum(s.total_s for s in samples) / sum(s.audio_s for s in samples),
            median_rtf=statistics.median(rtfs),
            p90_rtf=float(np.percentile(rtfs, 90)),
            acoustic_share=statistics.median(s.acoustic_s / s.total_s for s in samples),
            vocoder_share=statistics.median(s.vocoder_s / s.total_s for s in samples),
            frontend_ms=1000 * statistics.median(s.frontend_s for s in samples),
        )


def median_of_runs(config: Config) -> RunStats:
    """Each figure is the median of its per-run values."""
    per_run = [RunStats.of(samples) for samples in config.runs]
    fields = RunStats.__dataclass_fields__
    return RunStats(**{name: statistics.median(getattr(r, name) for r in per_run)
                       for name in fields})


def paired_ratio(a: Config, b: Config) -> tuple[float, float]:
    """a/b: median over runs of the corpus-RTF ratio, and median per-sentence ratio
    (same sentence, same run, back to back: the least noisy comparison)."""
    corpus = statistics.median(RunStats.of(x).corpus_rtf / RunStats.of(y).corpus_rtf
                               for x, y in zip(a.runs, b.runs, strict=True))
    sentence = statistics.median(sx.rtf / sy.rtf for x, y in zip(a.runs, b.runs, strict=True)
                                 for sx, sy in zip(x, y, strict=True))
    return corpus, sentence


def voice_label(voice_dir: Path) -> str:
    """'optimized' or 'as converted', from the optimizations the build recorded."""
    manifest = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    applied = manifest.get("provenance", {}).get("optimizations", [])
    return "optimized" if applied else "as converted"


def display_path(path: Path) -> str:
    """Relative to the repository when inside it, for a report that reads anywhere."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_configs(voice_dirs: Sequence[Path], threads: Sequence[int]) -> list[Config]:
    frontends: dict[str, Frontend] = {}
    configs: list[Config] = []
    for voice_dir in voice_dirs:
        label = voice_label(voice_dir)
        for n in threads:
            engine = OnnxEngine.load(voice_dir, device="cpu", threads=n)
            tables = engine.symbol_tables()
            key = json.dumps(tables, sort_keys=True)
            if key not in frontends:
                frontends[key] = Frontend(*tables)
            engine.warm_up()
            configs.append(Config(label, voice_dir, n, engine, frontends[key]))
    return configs


def measure(configs: list[Config], corpus: list[str], runs: int) -> list[str]:
    """Interleave: each line goes through every configuration, rotating who goes first."""
    for config in configs:  # one untimed pass over a few lines: first-call costs out
        for text in corpus[:3]:
            config.speak(text)
    loads = []
    for run in range(runs):
        gc.collect()
        samples: list[list[Sample]] = [[] for _ in configs]
        for i, text in enumerate(corpus):
            shift = (i + run) % len(configs)
            for k in [*range(shift, len(configs)), *range(shift)]:
                samples[k].append(configs[k].speak(text))
        for config, got in zip(configs, samples, strict=True):
            config.runs.append(got)
        loads.append(loadavg())
        _LOGGER.info("run %d/%d done, load %s", run + 1, runs, loads[-1])
    return loads


def fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def met(value: float, target: float) -> str:
    return "**met**" if value <= target else "**not met**"


def report(configs: list[Config], corpus: list[str], meta: dict[str, str],
           run_loads: list[str]) -> str:
    chars = [len(line) for line in corpus]
    first = configs[0].runs[0]
    audio = sum(s.audio_s for s in first)
    pauses = audio - sum(s.speech_s for s in first)
    lines = [
        "# Real-time factor, text -> float audio, embedded voice (baker-zh)",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- load average (1/5/15 min): start {meta['load_start']}, end {meta['load_end']}; "
        f"after each run: {'; '.join(run_loads)}",
        f"- onnxruntime {ort.__version__} (CPU provider), Python {platform.python_version()}",
        f"- command: `{meta['command']}`",
        f"- corpus: `{meta['corpus']}`, {len(corpus)} lines, {statistics.mean(chars):.1f} "
        f"characters on average ({min(chars)}-{max(chars)}); {audio:.0f} s of audio per pass, "
        f"of which {pauses:.1f} s are the pauses the service inserts between sentences",
        f"- {len(configs[0].runs)} runs; every configuration speaks each line in turn "
        "(rotating order); each figure is the median over runs",
        "",
        "RTF = wall time (front end + acoustic + vocoder + join) / seconds of audio returned. "
        "Corpus RTF = sum of times / sum of audio over the corpus. Shares are of the "
        "end-to-end time per sentence.",
        "",
        "| voice | ORT threads | corpus RTF per run | corpus RTF | median RTF | p90 RTF "
        "| acoustic share | vocoder share | front end ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in configs:
        s = median_of_runs(c)
        per_run = " / ".join(fmt(RunStats.of(r).corpus_rtf) for r in c.runs)
        lines.append(
            f"| {c.label} (`{c.voice_dir}`) | {c.threads} | {per_run} | {fmt(s.corpus_rtf)} "
            f"| {fmt(s.median_rtf)} | {fmt(s.p90_rtf)} | {s.acoustic_share:.0%} "
            f"| {s.vocoder_share:.0%} | {s.frontend_ms:.1f} |"
        )
    lines += ["", "## Side by side (same run, ratio of RTFs; < 1 means the first is faster)", "",
              "| comparison | corpus RTF ratio | median per-sentence ratio |", "|---|---:|---:|"]
    by_key = {(c.label, c.threads): c for c in configs}
    threads = sorted({c.threads for c in configs}, reverse=True)
    for n in threads:
        opt, raw = by_key.get(("optimized", n)), by_key.get(("as converted", n))
        if opt and raw:
            corpus_ratio, sentence_ratio = paired_ratio(opt, raw)
            lines.append(f"| optimized / as converted, {n} thread(s) | {corpus_ratio:.3f} "
                         f"| {sentence_ratio:.3f} |")
    for label in dict.fromkeys(c.label for c in configs):
        pairs = [(by_key.get((label, a)), by_key.get((label, b)))
                 for a in threads for b in threads if a > b]
        for a_cfg, b_cfg in pairs:
            if a_cfg and b_cfg:
                corpus_ratio, sentence_ratio = paired_ratio(a_cfg, b_cfg)
                lines.append(f"| {label}: {a_cfg.threads} / {b_cfg.threads} threads "
                             f"| {corpus_ratio:.3f} | {sentence_ratio:.3f} |")
    production = by_key.get(("optimized", PRODUCTION_THREADS)) or configs[0]
    s = median_of_runs(production)
    lines += [
        "",
        f"## Targets ({production.label}, {production.threads} threads per session, "
        "as the service runs it)",
        "",
        "| target | threshold | median RTF | corpus RTF |",
        "|---|---:|---|---|",
        f"| issue | <= {ISSUE_TARGET} | {fmt(s.median_rtf)} {met(s.median_rtf, ISSUE_TARGET)} "
        f"| {fmt(s.corpus_rtf)} {met(s.corpus_rtf, ISSUE_TARGET)} |",
        f"| design | <= {DESIGN_TARGET} | {fmt(s.median_rtf)} "
        f"{met(s.median_rtf, DESIGN_TARGET)} | {fmt(s.corpus_rtf)} "
        f"{met(s.corpus_rtf, DESIGN_TARGET)} |",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rtf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", action="append", type=Path, metavar="DIR",
                        help="voice directory (repeatable; default: the built voice, and "
                             f"{RAW_VOICE} when present)")
    parser.add_argument("--runs", type=int, default=3, help="passes over the corpus")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1],
                        help="ORT intra-op threads per session to compare")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--max-load", type=float, default=None,
                        help="before starting, wait while the 1-min load is above this")
    parser.add_argument("--max-wait", type=float, default=300.0,
                        help="seconds to wait at most for --max-load")
    args = parser.parse_args(argv)
    if args.runs < 1 or any(n < 1 for n in args.threads):
        parser.error("--runs and --threads must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    voices: list[Path] = args.voice or [default_voice_dir()]
    if not args.voice and (RAW_VOICE / "voice.json").exists():
        voices.append(RAW_VOICE)
    corpus = load_corpus(args.corpus)
    command = shlex.join([".venv/bin/python", "-m", "bench.rtf",
                          *(sys.argv[1:] if argv is None else argv)])
    if args.max_load is not None:
        wait_for_load(args.max_load, args.max_wait, step_s=10.0)
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_start": loadavg(),
        "command": command,
        "corpus": display_path(args.corpus),
    }
    configs = load_configs(voices, args.threads)
    run_loads = measure(configs, corpus, args.runs)
    meta["load_end"] = loadavg()
    text = report(configs, corpus, meta, run_loads)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
