"""The benchmark suite: the service under gunicorn as in production, side by side with a
seed-style baseline (bench/seed_baseline.py) and a bare Flask app, in one run.

    make bench          # = .venv/bin/python -m bench
    .venv/bin/python -m bench [--quick] [--wait-load 1.5 --wait-max 1200]

Measures RTF over the 100-sentence corpus (bench/rtf.py), uncached end-to-end latency
of 72-character requests, uncached requests/s against concurrency, /healthz under
saturation, cached requests/s (memory tier, Redis tier with a real redis-server) as a
share of a bare Flask app serving the same bytes, streaming time to first audio (alone
and beside 4 other streams), cold start, resident memory per worker, and the seed's
35%-repeat mix. Writes bench/RESULTS.md, bench/results/*.png and bench/results/bench.json.
Everything binds 127.0.0.1; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import math
import multiprocessing
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench import load, plots
from bench import rtf as rtf_bench
from bench.healthz_under_load import probe_healthz
from bench.load import (
    BENCH_DIR,
    ROOT,
    MixedTexts,
    Result,
    Texts,
    closed_loop,
    first_audio,
    hammer,
    ms,
    pct,
    rss_mb,
    synthesize,
)
from bench.results_md import render
from bench.servers import BareServer, SeedServer
from tests.gunicorn_server import GunicornServer, chinese_number
from tests.redis_fixture import RedisServer
from tts.voices.build import default_voice_dir

_LOGGER = logging.getLogger("bench")

RESULTS_DIR = BENCH_DIR / "results"
RAW_VOICE = Path("/tmp/voice-raw")


@dataclass
class Settings:
    rtf_runs: int = 2
    latency_pairs: int = 20
    ttfa_samples: int = 20
    seed_ttfa_samples: int = 8
    levels: tuple[int, ...] = (1, 2, 4, 8)
    sweep_rounds: int = 2
    sweep_seconds: float = 8.0
    healthz_seconds: float = 15.0
    cached_rounds: int = 3
    cached_seconds: float = 5.0
    cached_connections: int = 16
    mixed_rounds: int = 2
    mixed_seconds: float = 15.0
    mixed_clients: int = 4
    cold_runs: int = 3

    @classmethod
    def quick(cls) -> Settings:
        return cls(rtf_runs=1, latency_pairs=4, ttfa_samples=4, seed_ttfa_samples=2,
                   levels=(1, 4), sweep_rounds=1, sweep_seconds=4, healthz_seconds=4,
                   cached_rounds=1, cached_seconds=2, mixed_rounds=1, mixed_seconds=5,
                   cold_runs=1)


@dataclass
class Figures:
    """Everything measured, as raw samples and summaries (dumped to bench.json)."""

    meta: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value
        _LOGGER.info("%s = %s", key, value if not isinstance(value, list) or len(value) < 8
                     else f"[{len(value)} samples]")


def phase(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any, **kwargs: Any) -> None:
            started = time.monotonic()
            _LOGGER.info("phase %s: start (load %s)", name, load.loadavg())
            fn(*args, **kwargs)
            _LOGGER.info("phase %s: %.0f s", name, time.monotonic() - started)
        return run
    return wrap


def summary(values: Sequence[float]) -> dict[str, float]:
    clean = [v for v in values if not math.isnan(v)]
    return {"n": len(clean), "p50": pct(clean, .5), "p90": pct(clean, .9),
            "p99": pct(clean, .99), "max": max(clean, default=math.nan)}


def ok_seconds(results: Sequence[Result]) -> list[float]:
    return [r.seconds for r in results if r.status == 200]


# ------------------------------------------------------------------ phases


@phase("rtf")
def measure_rtf(fig: Figures, s: Settings) -> None:
    corpus = load.load_corpus()
    configs = rtf_bench.load_configs([default_voice_dir(), RAW_VOICE], [2])
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": fig.meta["machine"], "load_start": rtf_bench.load_text(),
            "command": f".venv/bin/python -m bench (runs bench.rtf's measure, {s.rtf_runs} runs,"
                       " 2 ORT threads)", "corpus": "bench/corpus.txt"}
    loads = rtf_bench.measure(configs, corpus, s.rtf_runs)
    meta["load_end"] = rtf_bench.load_text()
    (RESULTS_DIR / "rtf_in_bench.md").write_text(rtf_bench.report(configs, corpus, meta, loads),
                                        encoding="utf-8")
    service, seed = (rtf_bench.median_of_runs(c) for c in configs)
    fig.put("rtf", {"service": {"corpus": service.corpus_rtf, "median": service.median_rtf,
                                "p90": service.p90_rtf},
                    "seed": {"corpus": seed.corpus_rtf, "median": seed.median_rtf,
                             "p90": seed.p90_rtf},
                    "per_run_service": [rtf_bench.RunStats.of(r).corpus_rtf
                                        for r in configs[0].runs]})
    del configs
    gc.collect()


@phase("cold start")
def measure_cold_start(fig: Figures, s: Settings) -> None:
    service: list[float] = []
    seed: list[float] = []
    idle_rss: list[float] = []
    for _ in range(s.cold_runs):
        server = GunicornServer({"SOCKETIO_PORT": "0"}, ready_streak=1)
        started = time.monotonic()
        try:
            server.start()
            service.append(time.monotonic() - started)
            idle_rss += [rss_mb(pid) for pid in server.worker_pids()]
        finally:
            server.stop()
        baseline = SeedServer(RAW_VOICE)
        try:
            seed.append(baseline.start())
        finally:
            baseline.stop()
    fig.put("cold_start", {"service": service, "seed": seed, "service_idle_rss_mb": idle_rss})


@phase("uncached latency, one client")
def measure_latency(fig: Figures, s: Settings, url: str, seed_url: str) -> None:
    texts, seed_texts = Texts("甲"), Texts("甲")
    service: list[float] = []
    seed: list[float] = []
    for i in range(s.latency_pairs):  # alternate who goes first
        pair = [(url, texts, service), (seed_url, seed_texts, seed)]
        for target, source, out in pair if i % 2 == 0 else reversed(pair):
            result = synthesize(target, source.next())
            if result.status == 200:
                out.append(result.seconds)
    fig.put("latency_1", {"service": service, "seed": seed})


@phase("time to first audio")
def measure_ttfa(fig: Figures, s: Settings, url: str, seed_url: str) -> None:
    texts, seed_texts = Texts("乙"), Texts("乙")

    def ttfa(target: str, source: Texts, path: str, n: int) -> list[float]:
        out = []
        for _ in range(n):
            status, first, _ = first_audio(target, source.next(), path)
            if status == 200:
                out.append(first)
        return out

    stream = "/api/tts/stream"
    alone = ttfa(url, texts, stream, s.ttfa_samples)
    seed_alone = ttfa(seed_url, seed_texts, "/api/tts", s.seed_ttfa_samples)
    with load.Background(lambda: first_audio(url, texts.next(), stream), 4):
        time.sleep(1.0)
        loaded = ttfa(url, texts, stream, s.ttfa_samples)
    with load.Background(lambda: synthesize(seed_url, seed_texts.next()), 4):
        time.sleep(1.0)
        seed_loaded = ttfa(seed_url, seed_texts, "/api/tts", s.seed_ttfa_samples)
    fig.put("ttfa", {"service": alone, "service_4": loaded, "seed": seed_alone,
                     "seed_4": seed_loaded})


@phase("throughput vs concurrency")
def measure_sweep(fig: Figures, s: Settings, url: str, seed_url: str) -> None:
    texts, seed_texts = Texts("丙"), Texts("丙")
    rps: dict[str, dict[int, list[float]]] = {"service": {}, "seed": {}}
    lat: dict[str, dict[int, list[float]]] = {"service": {}, "seed": {}}
    errors: dict[str, int] = {"service": 0, "seed": 0}
    for _ in range(s.sweep_rounds):
        for level in s.levels:
            for name, target, source in (("service", url, texts),
                                         ("seed", seed_url, seed_texts)):
                def one(target: str = target, source: Texts = source) -> Result:
                    return synthesize(target, source.next())
                results, elapsed = closed_loop(one, level, s.sweep_seconds)
                ok = ok_seconds(results)
                errors[name] += len(results) - len(ok)
                rps[name].setdefault(level, []).append(len(ok) / elapsed)
                lat[name].setdefault(level, []).extend(ok)
    fig.put("sweep", {"levels": list(s.levels), "rps": rps, "latency": lat,
                      "errors": errors})


@phase("/healthz under saturation")
def measure_healthz(fig: Figures, s: Settings, url: str, worker_pids: list[int]) -> None:
    texts = Texts("丁")
    ctx = multiprocessing.get_context("spawn")
    stop_recv, stop_send = ctx.Pipe(duplex=False)
    out_recv, out_send = ctx.Pipe(duplex=False)
    prober = ctx.Process(target=probe_healthz, args=(url, 0.02, stop_recv, out_send))
    prober.start()
    time.sleep(1.5)  # the child imports before it probes
    before = cpu_seconds(worker_pids)
    results, elapsed = closed_loop(lambda: synthesize(url, texts.next()), 8, s.healthz_seconds)
    cores = (cpu_seconds(worker_pids) - before) / elapsed
    stop_send.send(True)
    latencies, failures = out_recv.recv()
    prober.join(10)
    fig.put("healthz", {"latency": latencies, "failures": failures, "worker_cores": cores,
                        "synthesis_ok": len(ok_seconds(results)),
                        "synthesis_other": len(results) - len(ok_seconds(results))})


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def prime(url: str, body: dict[str, Any], tier: str, streak: int = 6) -> bytes:
    """Repeat on fresh connections until `streak` answers in a row come from `tier`."""
    run, data = 0, b""
    for _ in range(60):
        response = requests.post(url + "/api/tts", json=body, timeout=60)
        response.raise_for_status()
        data = response.content
        run = run + 1 if response.headers.get("X-Cache") == tier else 0
        if run >= streak:
            return data
    raise RuntimeError(f"{url}: never {streak} x {tier} in a row")


@phase("cached requests/s")
def measure_cached(fig: Figures, s: Settings, url: str, redis_url: str, workers: int) -> None:
    body: dict[str, Any] = {"text": load.load_corpus()[0]}
    data = prime(url, body, "hit-memory")
    with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as handle:
        handle.write(data)
    tier2 = GunicornServer({"REDIS_URL": redis_url, "CACHE_MEMORY_BYTES": "0",
                            "SOCKETIO_PORT": "0", "WORKERS": str(workers)})
    bare = BareServer(Path(handle.name), workers)
    try:
        tier2.start()
        bare.start()
        assert prime(tier2.url, body, "hit-redis") == data
        assert requests.post(bare.url + "/api/tts", json=body, timeout=10).content == data
        runs: dict[str, list[dict[str, float]]] = {"memory": [], "redis": [], "bare": []}
        for _ in range(s.cached_rounds):
            for name, target in (("memory", url), ("redis", tier2.url), ("bare", bare.url)):
                got = hammer(target, body, connections=s.cached_connections,
                             seconds=s.cached_seconds)
                runs[name].append({"rps": got.rps, "p50": got.p50, "p90": got.p90,
                                   "p99": got.p99, "errors": got.errors,
                                   "requests": got.requests})
    finally:
        tier2.stop()
        bare.stop()
        os.unlink(handle.name)
    fig.put("cached", {"runs": runs, "bytes": len(data), "connections": s.cached_connections,
                       "tool": "wrk" if load.have_wrk() else "python threads"})


@phase("35% repeat mix")
def measure_mixed(fig: Figures, s: Settings, url: str, seed_url: str) -> None:
    out: dict[str, dict[str, list[Any]]] = {
        name: {"rps": [], "latency": [], "hits": [], "errors": []} for name in ("service", "seed")}
    for round_no in range(s.mixed_rounds):
        for name, target in (("service", url), ("seed", seed_url)):
            mix = MixedTexts(Texts(f"戊{chinese_number(round_no)}"), 0.35, seed=round_no)

            def one(target: str = target, mix: MixedTexts = mix) -> Result:
                return synthesize(target, mix.next())
            results, elapsed = closed_loop(one, s.mixed_clients, s.mixed_seconds)
            ok = [r for r in results if r.status == 200]
            out[name]["rps"].append(len(ok) / elapsed)
            out[name]["latency"].extend(r.seconds for r in ok)
            out[name]["hits"].append(sum(1 for r in ok if r.cache and r.cache != "miss")
                                     / max(1, len(ok)))
            out[name]["errors"].append(len(results) - len(ok))
    fig.put("mixed", out)


# ------------------------------------------------------------------ driver


def machine() -> str:
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
            f"{rtf_bench.cpu_model()}, {platform.system()} {platform.release()}")


def wait_for_load(max_load: float, max_wait_s: float) -> tuple[float, list[str]]:
    """Check the 1-minute load every 30 s until it is below `max_load` (bounded)."""
    started = time.monotonic()
    seen = [load.loadavg()]
    while os.getloadavg()[0] >= max_load and time.monotonic() - started < max_wait_s:
        _LOGGER.info("1-min load %.2f >= %.2f: waiting", os.getloadavg()[0], max_load)
        time.sleep(30)
        seen.append(load.loadavg())
    return time.monotonic() - started, seen


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (uncommitted edits present)" if dirty else "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run to check the harness")
    parser.add_argument("--wait-load", type=float, default=None,
                        help="first wait until the 1-min load average is below this")
    parser.add_argument("--wait-max", type=float, default=1200.0)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    return parser.parse_args(argv)


def make_plots(fig: Figures) -> None:
    v = fig.values
    plots.latency_cdfs(
        RESULTS_DIR / "latency.png",
        {"uncached 72-char request, one client": {
            "service": v["latency_1"]["service"], "seed-style baseline": v["latency_1"]["seed"]},
         "time to first audio, 72 chars": {
            "service stream": v["ttfa"]["service"],
            "service stream + 4 streams": v["ttfa"]["service_4"],
            "seed (whole response)": v["ttfa"]["seed"],
            "seed + 4 requests": v["ttfa"]["seed_4"]},
         "35% repeat mix, 4 clients": {
            "service": v["mixed"]["service"]["latency"],
            "seed-style baseline": v["mixed"]["seed"]["latency"]}},
        {"uncached 72-char request, one client": 0.4, "time to first audio, 72 chars": 0.1})
    sweep = v["sweep"]
    levels = sweep["levels"]
    plots.throughput_vs_concurrency(
        RESULTS_DIR / "throughput.png", levels,
        {name: [statistics.median(sweep["rps"][name][lvl]) for lvl in levels]
         for name in ("service", "seed")},
        {name: [pct(sweep["latency"][name][lvl], .5) for lvl in levels]
         for name in ("service", "seed")})
    cached = v["cached"]["runs"]
    label = {"memory": "service tier 1", "redis": "service tier 2", "bare": "bare Flask"}
    plots.cached_bars(RESULTS_DIR / "cached.png",
                      {label[k]: statistics.median(r["rps"] for r in runs)
                       for k, runs in cached.items()},
                      {label[k]: 1000 * statistics.median(r["p99"] for r in runs)
                       for k, runs in cached.items()})


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    s = Settings.quick() if args.quick else Settings()
    if not (RAW_VOICE / "voice.json").exists():
        _LOGGER.info("building the untuned voice for the seed baseline at %s", RAW_VOICE)
        subprocess.run([sys.executable, "-m", "tts.voices", "--no-optimize", "--dir",
                        str(RAW_VOICE)], cwd=ROOT, check=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    fig = Figures()
    waited, seen = (0.0, [load.loadavg()])
    if args.wait_load is not None:
        waited, seen = wait_for_load(args.wait_load, args.wait_max)
    started = time.monotonic()
    fig.meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(), "commit": git_commit(), "python": platform.python_version(),
        "command": shlex.join([".venv/bin/python", "-m", "bench",
                               *(sys.argv[1:] if argv is None else argv)]),
        "load_waited_s": waited, "load_seen_while_waiting": seen,
        "load_start": load.loadavg(), "quick": args.quick,
        "wrk": shutil.which("wrk") is not None,
    }
    measure_rtf(fig, s)
    measure_cold_start(fig, s)
    redis_binary = shutil.which("redis-server")
    if not redis_binary:
        raise SystemExit("redis-server not found: `make redis-server` installs it")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as redis_dir:
        redis = RedisServer(redis_binary, Path(redis_dir))
        redis.start()
        service = GunicornServer({"REDIS_URL": redis.url, "SOCKETIO_PORT": "0"})
        seed = SeedServer(RAW_VOICE)
        try:
            service.start()
            seed.start()
            fig.meta["service_env"] = {"REDIS_URL": "a local redis-server", "WORKERS":
                                       str(service.workers), "other settings": "defaults"}
            for _ in range(2):  # first-call costs out of both, like any client would see
                synthesize(service.url, Texts("预").next())
                synthesize(seed.url, Texts("预").next())
            measure_latency(fig, s, service.url, seed.url)
            measure_ttfa(fig, s, service.url, seed.url)
            measure_sweep(fig, s, service.url, seed.url)
            measure_healthz(fig, s, service.url, service.worker_pids())
            measure_mixed(fig, s, service.url, seed.url)
            fig.put("rss_mb", {"service_workers": [rss_mb(p) for p in service.worker_pids()],
                               "service_master": rss_mb(service.pid),
                               "seed": rss_mb(seed.pid)})
            measure_cached(fig, s, service.url, redis.url, service.workers)
        finally:
            service.stop()
            seed.stop()
            redis.stop()
    fig.meta["load_end"] = load.loadavg()
    fig.meta["duration_s"] = time.monotonic() - started
    make_plots(fig)
    (RESULTS_DIR / "bench.json").write_text(
        json.dumps({"meta": fig.meta, "values": fig.values}, indent=1, default=float),
        encoding="utf-8")
    text = render(fig.meta, fig.values)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    _LOGGER.info("wrote %s (%.0f s); /healthz p99 %s ms", args.out, fig.meta["duration_s"],
                 ms(pct(fig.values["healthz"]["latency"], .99)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
