"""bench/results/bench.md from the figures `python -m bench` measured (see bench/__main__.py)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from bench.load import BENCH_DIR
from tts.testing.stats import pct

RESULTS_DIR = BENCH_DIR / "results"


def f_ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def f_s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.2f} s"


def ratio(a: float, b: float) -> str:
    return "n/a" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}x"


def med(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def dist(values: Sequence[float]) -> str:
    """'p50 / p90 / p99 (n)' in ms."""
    return (f"{f_ms(pct(list(values), .5))} / {f_ms(pct(list(values), .9))} / "
            f"{f_ms(pct(list(values), .99))} (n={len(values)})")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def cached_runs(cached: dict[str, Any], name: str, level: int) -> list[dict[str, float]]:
    """One target's runs at one connection count (keys are strings once read from JSON)."""
    runs = cached["runs"][name]
    found: list[dict[str, float]] = runs.get(level, runs.get(str(level), []))
    return found


def render(meta: dict[str, Any], v: dict[str, Any]) -> str:
    rtf, cold, lat, ttfa = v["rtf"], v["cold_start"], v["latency_1"], v["ttfa"]
    sweep, health, mixed, cached, rss = (v["sweep"], v["healthz"], v["mixed"], v["cached"],
                                         v["rss_mb"])
    levels: list[int] = sweep["levels"]

    def sweep_rps(name: str, level: int) -> float:
        return med(sweep["rps"][name].get(level, sweep["rps"][name].get(str(level), [])))

    def sweep_runs(name: str, level: int) -> int:
        return len(sweep["rps"][name].get(level, sweep["rps"][name].get(str(level), [])))

    def sweep_lat(name: str, level: int) -> list[float]:
        return list(sweep["latency"][name].get(level, sweep["latency"][name].get(str(level),
                                                                                   [])))

    sat = 4 if 4 in levels else levels[-1]
    top = levels[-1]
    svc_rps, seed_rps = sweep_rps("service", sat), sweep_rps("seed", sat)
    best_rps = max(sweep_rps("service", lvl) for lvl in levels)
    mix_svc, mix_seed = med(mixed["service"]["rps"]), med(mixed["seed"]["rps"])
    c_levels: list[int] = cached["connections"]

    def c_med(name: str, level: int, what: str) -> float:
        return med([r[what] for r in cached_runs(cached, name, level)])

    def c_verdicts(name: str, level: int) -> str:
        fast_enough = c_med(name, level, "rps") >= 0.6 * c_med("bare", level, "rps")
        return (f"requests/s {verdict(fast_enough)}, "
                f"p99 {verdict(c_med(name, level, 'p99') < .03)}")

    def c_cell(name: str, level: int) -> str:
        return (f"{c_med(name, level, 'rps'):.0f} (p50 {f_ms(c_med(name, level, 'p50'))}, "
                f"p99 {f_ms(c_med(name, level, 'p99'))})")

    c_err = {k: sum(int(r["errors"]) for lvl in c_levels for r in cached_runs(cached, k, lvl))
             for k in cached["runs"]}
    lat_svc, lat_seed = pct(lat["service"], .5), pct(lat["seed"], .5)
    ttfa_svc, ttfa_4 = pct(ttfa["service"], .5), pct(ttfa["service_4"], .5)
    healthz_p99 = pct(health["latency"], .99)
    cold_svc, cold_seed = med(cold["service"]), med(cold["seed"])
    workers_rss = [x for x in rss["service_workers"] if not math.isnan(x)]
    max_rss = max(workers_rss, default=math.nan)
    rtf_svc = rtf["service"]["corpus"]

    lines = [
        "# Benchmarks: the service against a seed-style baseline, side by side",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}; Python {meta['python']}",
        f"- code: {meta['commit']}",
        f"- command: `{meta['command']}` (what `make bench` runs; total "
        f"{meta['duration_s'] / 60:.1f} min)",
        f"- load average (1/5/15 min): start {meta['load_start']}, end {meta['load_end']}"
        + (f"; waited {meta['load_waited_s']:.0f} s for the 1-min load to drop, seen: "
           f"{'; '.join(meta['load_seen_while_waiting'])}"
           if len(meta["load_seen_while_waiting"]) > 1 else ""),
        "- **the machine is shared**: other engineers run test suites on the same 2 cores "
        "during this run, so absolute figures are noisier and slower than on a quiet "
        "machine; the ratios are taken side by side in the same run, so a neighbour's load "
        "falls on both sides.",
        "- service: `gunicorn -c gunicorn.conf.py` (gevent, production defaults: WORKERS=2, "
        "INFERENCE_THREADS=1, ORT_THREADS=2, QUEUE_SIZE=8), a local `redis-server` as tier "
        "2, bound to 127.0.0.1, SOCKETIO_PORT=0.",
        "- seed-style baseline (`bench/seed_baseline.py`): Flask development server "
        "(`app.run(threaded=True)`), engine loaded by the first request, synthesis per "
        "request, no cache, no warm-up, no concurrency control, the voice as converted "
        "(`/tmp/voice-raw`, `python -m tts.voices --no-optimize`), 2 ORT threads.",
        "- texts: `bench/corpus.txt` (100 sentences, ~72 characters); 'uncached' requests "
        "take a corpus line with its last characters replaced by a counter (same length, "
        "never requested before).",
        "- ratios: 'x seed' is service / baseline for rates and baseline / service for "
        "times, so > 1 means the service is better.",
        "",
        "## Targets (DESIGN.md \"Performance targets\")",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| RTF <= 0.025 on 2 cores, 100-sentence corpus | corpus RTF {rtf_svc:.4f} (median "
        f"per sentence {rtf['service']['median']:.4f}) | {verdict(rtf_svc <= 0.025)} |",
        f"| uncached 72-char request p50 <= 0.4 s over HTTP | {f_s(lat_svc)} | "
        f"{verdict(lat_svc <= 0.4)} |",
        f"| streaming first audio byte p50 <= 100 ms (72 chars) | {f_ms(ttfa_svc)} alone; "
        f"{f_ms(ttfa_4)} beside 4 streams | {verdict(ttfa_svc <= 0.1)} "
        f"(beside 4 streams: {verdict(ttfa_4 <= 0.1)}) |",
        f"| uncached throughput >= 4 requests/s and >= 2x the baseline | {svc_rps:.2f} "
        f"requests/s at {sat} clients = {ratio(svc_rps, seed_rps)} the baseline's "
        f"{seed_rps:.2f} | {verdict(svc_rps >= 4 and svc_rps >= 2 * seed_rps)} |",
        f"| 35%-repeat mix >= 3x the baseline | {mix_svc:.2f} vs {mix_seed:.2f} requests/s "
        f"= {ratio(mix_svc, mix_seed)} | {verdict(mix_svc >= 3 * mix_seed)} |",
        "| cache hits >= 60% of a bare Flask app's requests/s, p99 < 30 ms | "
        + "; ".join(
            f"{c} connections: tier 1 {ratio(c_med('memory', c, 'rps'), c_med('bare', c, 'rps'))}"
            f" of bare, p99 {f_ms(c_med('memory', c, 'p99'))} (bare's own p99 "
            f"{f_ms(c_med('bare', c, 'p99'))}); tier 2 "
            f"{ratio(c_med('redis', c, 'rps'), c_med('bare', c, 'rps'))}, p99 "
            f"{f_ms(c_med('redis', c, 'p99'))}" for c in c_levels)
        + " | "
        + "; ".join(f"{c} connections: tier 1 {c_verdicts('memory', c)}; tier 2 "
                    f"{c_verdicts('redis', c)}" for c in c_levels)
        + " |",
        f"| /healthz p99 <= 50 ms while synthesis saturates every core | {f_ms(healthz_p99)} "
        f"(n={len(health['latency'])}) | {verdict(healthz_p99 <= 0.05)} |",
        f"| cold start (process start -> /readyz 200, voice built) <= 2 s | {f_s(cold_svc)} "
        f"median of {len(cold['service'])} | {verdict(cold_svc <= 2.0)} |",
        f"| resident memory per worker <= 400 MB | {max_rss:.0f} MiB (largest worker after "
        f"the load phases) | {verdict(max_rss <= 400 * 1e6 / 2**20)} |",
        "",
        "## Every figure, with the baseline",
        "",
        "| measure | service | seed-style baseline | x seed |",
        "|---|---|---|---|",
        f"| RTF over the corpus (text -> float audio, in process; bench/rtf.py) | "
        f"{rtf_svc:.4f} | {rtf['seed']['corpus']:.4f} | "
        f"{ratio(rtf['seed']['corpus'], rtf_svc)} |",
        f"| uncached 72-char latency, one client, p50 / p90 / p99 | {dist(lat['service'])} "
        f"| {dist(lat['seed'])} | {ratio(lat_seed, lat_svc)} (p50) |",
        f"| uncached requests/s at {sat} clients (median of {sweep_runs('service', sat)}"
        f" runs) | {svc_rps:.2f} | {seed_rps:.2f} | {ratio(svc_rps, seed_rps)} |",
        f"| uncached requests/s, best level of 1-{top} clients | {best_rps:.2f} | "
        f"{max(sweep_rps('seed', lvl) for lvl in levels):.2f} | "
        f"{ratio(best_rps, max(sweep_rps('seed', lvl) for lvl in levels))} |",
        f"| time to first audio, alone, p50 / p90 / p99 (service: /api/tts/stream; "
        f"baseline: first byte of its whole response) | {dist(ttfa['service'])} | "
        f"{dist(ttfa['seed'])} | {ratio(pct(ttfa['seed'], .5), ttfa_svc)} (p50) |",
        f"| time to first audio beside 4 other streams/requests | {dist(ttfa['service_4'])} "
        f"| {dist(ttfa['seed_4'])} | {ratio(pct(ttfa['seed_4'], .5), ttfa_4)} (p50) |",
        f"| 35%-repeat mix, {len(mixed['service']['rps'])} runs: requests/s | {mix_svc:.2f} | "
        f"{mix_seed:.2f} | {ratio(mix_svc, mix_seed)} |",
        f"| 35%-repeat mix: latency p50 / p90 / p99 | {dist(mixed['service']['latency'])} | "
        f"{dist(mixed['seed']['latency'])} | "
        f"{ratio(pct(mixed['seed']['latency'], .5), pct(mixed['service']['latency'], .5))} "
        "(p50) |",
        f"| 35%-repeat mix: answered from cache | {med(mixed['service']['hits']):.0%} | 0% "
        "(no cache) | |",
        *(row for c in c_levels for row in (
            f"| cached requests/s, tier 1 (memory), {c} connections | {c_cell('memory', c)} | "
            f"{seed_rps:.2f} (no cache: uncached rate) | "
            f"{ratio(c_med('memory', c, 'rps'), seed_rps)} |",
            f"| cached requests/s, tier 2 (Redis, memory tier off), {c} connections | "
            f"{c_cell('redis', c)} | {seed_rps:.2f} | "
            f"{ratio(c_med('redis', c, 'rps'), seed_rps)} |",
            f"| bare Flask, same bytes, same gunicorn settings, {c} connections | "
            f"{c_cell('bare', c)} | | |")),
        f"| cold start: spawn -> ready (service: /readyz 200 with every worker warm; "
        f"baseline: first synthesis answered, model loaded lazily) | "
        f"{' / '.join(f_s(x) for x in cold['service'])} | "
        f"{' / '.join(f_s(x) for x in cold['seed'])} | {ratio(cold_seed, cold_svc)} |",
        f"| resident memory (RSS) per worker after load | "
        f"{' / '.join(f'{x:.0f}' for x in workers_rss)} MiB (master "
        f"{rss['service_master']:.0f} MiB; idle after start "
        f"{med(cold['service_idle_rss_mb']):.0f} MiB) | {rss['seed']:.0f} MiB (one process)"
        f" | {ratio(rss['seed'], max_rss)} |",
        f"| /healthz while 8 clients saturate synthesis (fresh connection each, separate "
        f"process) | {dist(health['latency'])}, {health['failures']} failures; workers used "
        f"{health['worker_cores']:.2f} cores | | |",
        "",
        f"Cached runs: `{cached['tool']}` with {' and '.join(map(str, c_levels))} keep-alive "
        f"connections, {len(cached_runs(cached, 'memory', c_levels[0]))} interleaved runs per "
        f"target and level, medians; body {cached['bytes']} bytes (one corpus sentence as "
        f"WAV). Errors (non-2xx or socket): tier 1 {c_err['memory']}, tier 2 "
        f"{c_err['redis']}, bare {c_err['bare']}. With 2 workers, 4 connections (2 per "
        "worker) already give tier 1 and bare Flask their peak requests/s; more connections "
        "only wait in line, so p99 at 16 grows with the queue and with how the 2 cores are "
        "shared between `wrk` and the workers: compare bare Flask's own p99 at the same "
        "level.",
        "",
        "### Throughput and latency against concurrency (uncached, 72 characters)",
        "",
        "| clients | service requests/s | service p50 / p90 / p99 | baseline requests/s | "
        "baseline p50 / p90 / p99 | x seed |",
        "|---|---|---|---|---|---|",
    ]
    for level in levels:
        lines.append(f"| {level} | {sweep_rps('service', level):.2f} | "
                     f"{dist(sweep_lat('service', level))} | {sweep_rps('seed', level):.2f} | "
                     f"{dist(sweep_lat('seed', level))} | "
                     f"{ratio(sweep_rps('service', level), sweep_rps('seed', level))} |")
    lines += [
        "",
        f"Non-200 answers during the sweep: service {sweep['errors']['service']}, baseline "
        f"{sweep['errors']['seed']}. During the /healthz phase the service answered "
        f"{health['synthesis_ok']} syntheses with 200 and {health['synthesis_other']} "
        "otherwise.",
        "",
        "## Plots",
        "",
        "- [latency distributions](latency.png): uncached request, time to first "
        "audio, 35% mix (CDFs, service vs baseline)",
        "- [throughput and latency vs concurrency](throughput.png)",
        "- [cached requests/s and p99](cached.png): tier 1, tier 2, bare Flask",
        "",
        "![latency](latency.png)",
        "",
        "![throughput](throughput.png)",
        "",
        "![cached](cached.png)",
        "",
        "## Other benchmark reports",
        "",
        "- RTF in detail: [results/rtf_in_bench.md](rtf_in_bench.md) (written by this "
        f"run through bench/rtf.py's functions; per run corpus RTF of the service's voice: "
        f"{' / '.join(f'{x:.4f}' for x in rtf['per_run_service'])}; tuned vs as converted: "
        f"{ratio(rtf['seed']['corpus'], rtf_svc)} faster).",
        "- ONNX graph variants and their equivalence: [graph_variants.md](graph_variants.md) "
        "(the vocoder rewrite and folded acoustic weights, measured earlier on a loaded "
        "machine; the RTF row above is the end-to-end effect of those rewrites).",
    ]
    healthz_md = RESULTS_DIR / "healthz_under_load.md"
    if healthz_md.exists():
        lines.append("- /healthz under load, overload bursts and WORKERS/INFERENCE_THREADS/"
                     "ORT_THREADS combinations: [healthz_under_load.md]"
                     "(results/healthz_under_load.md) (bench/healthz_under_load.py, run "
                     "separately).")
    else:
        lines.append("- /healthz under load and thread/worker combinations: "
                     "bench/healthz_under_load.py writes results/healthz_under_load.md; it "
                     "was not present when this report was written (run `.venv/bin/python "
                     "bench/healthz_under_load.py`). The /healthz row above measures the same "
                     "target in this run.")
    faults_md = RESULTS_DIR / "faults.md"
    if faults_md.exists():
        lines.append("- Load and fault runs (overload at 4x capacity, Redis restart, killed "
                     "worker, SIGTERM, 10,000-request soak, schemathesis fuzzing): "
                     "[results/faults.md](faults.md) (`.venv/bin/python -m "
                     "bench.faults`).")
    lines += ["", "Raw samples: [results/bench.json](bench.json).", ""]
    return "\n".join(lines)

