"""The intelligibility report: tables (markdown) and a plot from intelligibility.json.

Kept apart from the runner (bench/intelligibility.py) so a report can be re-rendered
from stored results without loading the app or the recognizer:

    .venv/bin/python -m bench.intelligibility_report [bench/results]

Error rates are pooled (errors over all reference syllables of a row) and, beside
them, the median of the per-sentence rates, so one garbled sentence shows in the
mean but not in the median.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.results_md import RESULTS_DIR
from tts.emotions import EMOTIONS
from tts.engines.onnx_engine import MAX_MODEL_SPEED

Utt = dict[str, Any]
SPEEDS = (0.75, 1.0, 1.25, 1.5, 2.0)  # the request speeds the speeds part says
LENGTH_BUCKETS = ((1, 10), (11, 15), (16, 20), (21, 25), (26, 30), (31, 40), (41, 50),
                  (51, 60), (61, 999))
INDEX_BIN = 5  # syllables per bin of the position-in-pass plot
MIN_THIRDS_LEN = 6  # thirds of a shorter pass say nothing about its end


def name(limit: int, emotion: str = "neutral", speed: float = 1.0, route: str = "whole") -> str:
    """The config key bench/intelligibility.py writes (Config.name)."""
    return f"limit={limit} emotion={emotion} speed={speed:g} route={route}"


def by_config(results: dict[str, Any]) -> dict[str, list[Utt]]:
    out: dict[str, list[Utt]] = {}
    for part in results["parts"].values():
        for utt in part["utterances"]:
            out.setdefault(utt["config"], []).append(utt)
    return out


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def stats(utts: Sequence[Utt]) -> dict[str, Any]:
    """Pooled and median error rates, DNSMOS means, RTF and audio length of `utts`."""
    syllables = sum(u["syllables"] for u in utts) or 1
    audio = sum(u["audio_s"] for u in utts) or 1.0
    rated = [u for u in utts if u["syllables"]]
    scored = [u["dnsmos"] for u in utts if u.get("dnsmos")]
    return {
        "n": len(utts),
        "per": sum(u["pinyin_errors"] for u in utts) / syllables,
        "per_median": statistics.median(u["pinyin_errors"] / u["syllables"] for u in rated)
        if rated else 0.0,
        "cer": sum(u["char_errors"] for u in utts) / syllables,
        "cer_median": statistics.median(u["char_errors"] / u["syllables"] for u in rated)
        if rated else 0.0,
        "worst": max((u["pinyin_errors"] / u["syllables"] for u in rated), default=0.0),
        "rtf": sum(u["synth_s"] for u in utts) / audio,
        "audio_s": audio / max(1, len(utts)),
        "dnsmos_n": len(scored),
        "ovrl": statistics.fmean(d["ovrl"] for d in scored) if scored else float("nan"),
        "sig": statistics.fmean(d["sig"] for d in scored) if scored else float("nan"),
        "bak": statistics.fmean(d["bak"] for d in scored) if scored else float("nan"),
    }


HEADER = ("| {label} | sentences | pinyin error (pooled) | median | worst | CER (pooled) "
          "| CER median | DNSMOS OVRL / SIG / BAK (n) | RTF | audio s/sentence |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")


def row(label: str, utts: Sequence[Utt]) -> str:
    s = stats(utts)
    quality = (f"{s['ovrl']:.2f} / {s['sig']:.2f} / {s['bak']:.2f} ({s['dnsmos_n']})"
               if s["dnsmos_n"] else "-")
    return (f"| {label} | {s['n']} | {pct(s['per'])} | {pct(s['per_median'])} | "
            f"{pct(s['worst'])} | {pct(s['cer'])} | {pct(s['cer_median'])} | {quality} | "
            f"{s['rtf']:.4f} | {s['audio_s']:.1f} |\n")


def table(label: str, rows: Iterable[tuple[str, Sequence[Utt]]]) -> str:
    body = "".join(row(text, utts) for text, utts in rows if utts)
    return HEADER.format(label=label) + body if body else "(not run)\n"


def placed(utts: Iterable[Utt]) -> Iterable[tuple[int, int, float]]:
    """(pass length, index in pass, errors charged) of every placed reference syllable."""
    for u in utts:
        for length, pos, err in zip(u["pass_len"], u["pass_pos"], u["charged"], strict=False):
            if length:
                yield length, pos, err


def rate(items: Sequence[tuple[int, int, float]]) -> str:
    return f"{pct(sum(e for _, _, e in items) / len(items))} ({len(items)})" if items else "-"


def thirds_table(groups: Sequence[tuple[str, list[Utt]]]) -> str:
    text = ("| configuration | first third | middle third | last third |\n"
            "|---|---:|---:|---:|\n")
    for label, utts in groups:
        cells = [[], [], []]  # type: list[list[tuple[int, int, float]]]
        for item in placed(utts):
            length, pos, _ = item
            if length >= MIN_THIRDS_LEN:
                cells[min(2, 3 * pos // length)].append(item)
        text += f"| {label} | " + " | ".join(rate(c) for c in cells) + " |\n"
    return text


def length_table(utts: Sequence[Utt]) -> str:
    items = list(placed(utts))
    text = ("| pass length (syllables) | error | whole passes' last 5 syllables |\n"
            "|---|---:|---:|\n")
    for low, high in LENGTH_BUCKETS:
        inside = [i for i in items if low <= i[0] <= high]
        tail = [i for i in inside if i[1] >= i[0] - 5]
        label = f"{low}-{high}" if high < 999 else f">{low - 1}"
        if inside:
            text += f"| {label} | {rate(inside)} | {rate(tail)} |\n"
    return text


def index_curve(utts: Sequence[Utt]) -> tuple[list[int], list[float]]:
    """Error rate against the syllable's index in its pass, in bins of INDEX_BIN."""
    bins: dict[int, list[float]] = {}
    for _, pos, err in placed(utts):
        bins.setdefault(pos // INDEX_BIN, []).append(err)
    keys = sorted(k for k in bins if len(bins[k]) >= 20)
    return [k * INDEX_BIN + 1 for k in keys], [statistics.fmean(bins[k]) for k in keys]


def plot(results: dict[str, Any], groups: dict[str, list[Utt]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subset = subset_lines(results)
    default = results["default_limit"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    limits = sweep_limits(groups)
    sweep = [(n, only(groups.get(name(n), []), subset)) for n in limits]
    sweep = [(n, u) for n, u in sweep if u]
    ax = axes[0]
    ax.plot([n for n, _ in sweep], [100 * stats(u)["per"] for _, u in sweep], "o-",
            label="whole sentence")
    floor = only(groups.get(name(default, route="clauses"), []), subset)
    if floor:
        ax.axhline(100 * stats(floor)["per"], color="green", ls="--", label="clause by clause")
    ax.set_xlabel("MAX_PIECE_SYLLABLES (longest acoustic pass)")
    ax.set_ylabel("toneless-pinyin error %")
    ax.set_title(f"Error vs pass-length limit ({len(subset)} sentences)")
    twin = ax.twinx()
    twin.plot([n for n, _ in sweep], [stats(u)["rtf"] for _, u in sweep], "s:", color="gray")
    twin.set_ylabel("RTF (gray)")
    ax.legend(loc="upper left")
    ax = axes[1]
    for n in limits:
        if n in (10, default, 30, 40, 60):
            x, y = index_curve(groups[name(n)])
            ax.plot(x, [100 * v for v in y], "o-", ms=3, label=f"limit {n}")
    ax.set_xlabel(f"syllable index inside the pass (bins of {INDEX_BIN})")
    ax.set_ylabel("toneless-pinyin error %")
    ax.set_title("Error vs position inside an acoustic pass")
    ax.legend()
    ax = axes[2]
    whole = [u for k, v in groups.items() if k.endswith("speed=1 route=whole")
             and "emotion=neutral" in k for u in v]
    items = list(placed(whole))
    labels, values = [], []
    for low, high in LENGTH_BUCKETS:
        inside = [e for length, _, e in items if low <= length <= high]
        if len(inside) >= 20:
            labels.append(f"{low}-{high}" if high < 999 else f">{low - 1}")
            values.append(100 * statistics.fmean(inside))
    ax.bar(labels, values)
    ax.set_xlabel("length of the syllable's pass")
    ax.set_ylabel("toneless-pinyin error %")
    ax.set_title("Error vs pass length (all limits pooled)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def subset_lines(results: dict[str, Any]) -> set[int]:
    """The lines the subset parts said (every N-th of the corpus)."""
    return set(range(0, results["corpus_lines"], results["every"]))


def only(utts: Sequence[Utt], lines: set[int]) -> list[Utt]:
    return [u for u in utts if u["line"] in lines]


def worst(utts: Sequence[Utt], count: int = 5) -> str:
    ranked = sorted(utts, key=lambda u: -u["pinyin_errors"] / max(1, u["syllables"]))[:count]
    return "".join(f"- line {u['line']}, {u['pinyin_errors']}/{u['syllables']}: "
                   f"said `{u['reference']}`, heard `{u['heard']}`\n" for u in ranked)


def rescored(run: dict[str, Any]) -> str:
    """Where a part's transcripts were scored again later (`--rescore`)."""
    return f", transcripts scored again at {run['rescored']}" if "rescored" in run else ""


def render(results: dict[str, Any]) -> str:
    groups = by_config(results)
    default, before = results["default_limit"], results["before_limit"]
    subset = subset_lines(results)
    main_after, main_before = groups.get(name(default), []), groups.get(name(before), [])
    sub_after = only(main_after, subset)
    asr_info = results["asr"]
    parts = results["parts"]
    text = f"""# Intelligibility: Whisper base listening to the service

Command: `{results['command']}` (bench/intelligibility.py; parts re-run with `--only`).
Machine: {results['machine']}, Python {results['python']}.
Commit: {results['commit']}, {results['date']}, this invocation {results['elapsed_s']:.0f} s.
Parts: {", ".join(f"{k} ({v['lines']} lines, {v['elapsed_s']:.0f} s, {v['commit']}, "
                    f"{v['date']}{rescored(v)})" for k, v in parts.items())}.

Each sentence is one `POST /api/tts` (wav; `/api/tts/stream` pcm for the streamed
route) to the app from `create_app` with the embedded ONNX voice and the memory cache
off, so every request is synthesized. The recognizer ({asr_info['model']},
{asr_info['compute_type']}, beam {asr_info['beam_size']}, timestamps on, `language="zh"`,
`condition_on_previous_text=False`, `no_repeat_ngram_size=4`, temperature 0) hears
16 kHz audio in the same process. Scores are on Han characters: the reference is the
front end's normalized text, the transcript is converted to simplified characters
(OpenCC tw2s: Whisper writes Taiwan-standard characters, and plain t2s would keep its
著 for the particle 着, read zhù) and read by the same normalizer (digits);
**pinyin error** is the edit
distance between toneless pypinyin syllables over reference syllables, CER the same on
characters; a sentence counts at most one error per reference syllable (Whisper can
loop on garbled audio and add junk without end). DNSMOS (speechmos, P.835, 16 kHz,
peak-normalized) on every {results['dnsmos_every']}th line (main) and every
{results.get('dnsmos_every_subset', results['dnsmos_every'])}th (other parts). RTF =
seconds spent in the request / seconds of audio, measured in this run (main: both
limits said one after the other per line).
MAX_PIECE_SYLLABLES default {default}; {before} is how long pieces could be before the
cap. The subset is every {results['every']}th line ({len(subset)} lines).

## Before and after (all {results['corpus_lines']} lines, neutral, speed 1.0)

{table("MAX_PIECE_SYLLABLES", [(f"{default} (now)", main_after),
                                (f"{before} (before)", main_before)])}
## Length limit sweep (subset)

Rows {default} and {before} come from the main part on the same lines; the others were
said in the sweep part. Compare RTF within one part only (the machine's load moves).

{table("MAX_PIECE_SYLLABLES", [(str(n), only(groups.get(name(n), []), subset))
                                for n in sweep_limits(groups)])}
## The voice's floor: clause by clause (subset)

Each clause (the text cut after ，。！？；、：) is its own request; transcripts joined.

{table("how", [("clause by clause", groups.get(name(default, route="clauses"), [])),
               (f"whole sentence, limit {default}", sub_after),
               (f"whole sentence, limit {before}", only(main_before, subset))])}
## Emotion presets (subset, limit {default}, speed 1.0)

{table("emotion", [(e, sub_after if e == "neutral" else groups.get(name(default, e), []))
                   for e in EMOTIONS])}
## Speeds (subset, limit {default}, neutral)

Above {MAX_MODEL_SPEED:g} the acoustic model speaks at {MAX_MODEL_SPEED:g} and the audio is
time-stretched the rest of the way; "voice alone" rows are the acoustic model asked
for the whole speed, in the same run.

{table("speed", [(f"{s:g}", sub_after if s == 1.0 else groups.get(name(default, speed=s), []))
                 for s in SPEEDS]
       + [(f"{s:g}, voice alone", groups.get(name(default, speed=s) + " voice-alone", []))
          for s in SPEEDS if s > MAX_MODEL_SPEED])}
## Routes (subset, limit {default}, neutral, speed 1.0)

{table("route", [("whole (/api/tts)", sub_after),
                 ("streamed (/api/tts/stream)", groups.get(name(default, route="stream"), []))])}
## Where in an acoustic pass the errors fall

Each reference syllable is placed in the pass (piece) the planner made for it; its
errors come from the minimum-edit alignment of reference and heard syllables (an
inserted syllable is charged to the next reference syllable, at most 1 per syllable).
Rates are errors per placed syllable (count in brackets); passes shorter than
{MIN_THIRDS_LEN} syllables are left out of the thirds.

{thirds_table([(f"limit {n}" + (" (all lines)" if n in (default, before) else ""),
                groups.get(name(n), [])) for n in sweep_limits(groups)])}
Against the pass's length (every neutral whole-sentence configuration pooled):

{length_table([u for k, v in groups.items() if k.endswith("speed=1 route=whole")
               and "emotion=neutral" in k for u in v])}
![error vs limit, position and pass length](intelligibility.png)

## Worst sentences at limit {default}

{worst(main_after)}"""
    return text


def sweep_limits(groups: dict[str, list[Utt]]) -> list[int]:
    return sorted({int(k.split()[0].split("=")[1]) for k in groups
                   if k.endswith("emotion=neutral speed=1 route=whole")})


def write_report(results: dict[str, Any], out: Path) -> None:
    (out / "intelligibility.md").write_text(render(results))
    plot(results, by_config(results), out / "intelligibility.png")


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0]) if argv else RESULTS_DIR
    write_report(json.loads((out / "intelligibility.json").read_text()), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
