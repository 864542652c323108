"""Real-time factor of the embedded voice over a 100-sentence corpus, end to end.

Text -> front end -> acoustic model -> vocoder -> joined float audio, exactly the
steps the service runs for an uncached request (minus HTTP, cache and encoding).
Every configuration (voice directory x ORT threads per session) is loaded once and
all of them take turns on each corpus line, in an order that rotates per line, so
the noise of this shared machine falls on all of them alike; the ratios between
configurations are taken inside one run. Absolute RTFs move with the machine's
load, which is recorded at start and end.

    .venv/bin/python -m bench.rtf [--voice DIR ...] [--runs N] [--threads 2 1]

The timing itself is bench/rtf_measure.py's; this module is the command and its report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import platform
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from bench.load import ROOT, wait_for_load
from bench.results_md import RESULTS_DIR
from bench.rtf_measure import (
    Config,
    RunStats,
    load_configs,
    measure,
    median_of_runs,
    paired_ratio,
)
from bench.run_info import machine
from bench.seed_baseline import RAW_VOICE
from tts.testing.procfs import loadavg
from tts.testing.texts import CORPUS, load_corpus
from tts.voices.build import default_voice_dir

RESULTS = RESULTS_DIR / "rtf.md"
ISSUE_TARGET = 0.03  # issue: median RTF
DESIGN_TARGET = 0.025  # DESIGN.md "Performance targets"
PRODUCTION_THREADS = 2  # config ORT_THREADS default


def display_path(path: Path) -> str:
    """Relative to the repository when inside it, for a report that reads anywhere."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


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
