"""The measurement phases of `python -m bench`, each bounded in time.

Each phase measures one thing against servers the driver (bench/__main__.py) started
and puts raw samples into `Figures`; turning those into RESULTS.md and plots is
bench/results_md.py's and bench/plots.py's job.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench import rtf as rtf_bench
from bench.hammer import hammer, have_wrk
from bench.results_md import RESULTS_DIR
from bench.seed_baseline import RAW_VOICE
from bench.servers import BareServer, SeedServer
from tts.testing.corpus_texts import MixedTexts, Texts
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import (
    Background,
    HealthzProbe,
    Result,
    closed_loop,
    first_audio,
    synthesize,
)
from tts.testing.procfs import cpu_seconds, loadavg, rss_mb
from tts.testing.texts import chinese_number, load_corpus
from tts.voices.build import default_voice_dir

_LOGGER = logging.getLogger("bench")  # the driver's logger: one name in the run's log


@dataclass
class Settings:
    """How many samples and seconds each phase takes; `quick` only checks the harness."""

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
    # 4 = two per worker, where hits already peak (bench/RESULTS.md); 16 = oversubscribed
    cached_connections: tuple[int, ...] = (4, 16)
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
            _LOGGER.info("phase %s: start (load %s)", name, loadavg())
            fn(*args, **kwargs)
            _LOGGER.info("phase %s: %.0f s", name, time.monotonic() - started)
        return run
    return wrap


def ok_seconds(results: Sequence[Result]) -> list[float]:
    return [r.seconds for r in results if r.status == 200]


@phase("rtf")
def measure_rtf(fig: Figures, s: Settings) -> None:
    corpus = load_corpus()
    configs = rtf_bench.load_configs([default_voice_dir(), RAW_VOICE], [2])
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": fig.meta["machine"], "load_start": loadavg(),
            "command": f".venv/bin/python -m bench (runs bench.rtf's measure, {s.rtf_runs} runs,"
                       " 2 ORT threads)", "corpus": "bench/corpus.txt"}
    loads = rtf_bench.measure(configs, corpus, s.rtf_runs)
    meta["load_end"] = loadavg()
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
    with Background(lambda: first_audio(url, texts.next(), stream), 4):
        time.sleep(1.0)
        loaded = ttfa(url, texts, stream, s.ttfa_samples)
    with Background(lambda: synthesize(seed_url, seed_texts.next()), 4):
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
    with HealthzProbe(url, 0.02, settle_s=1.5) as probe:
        before = cpu_seconds(worker_pids)
        results, elapsed = closed_loop(lambda: synthesize(url, texts.next()), 8,
                                       s.healthz_seconds)
        cores = (cpu_seconds(worker_pids) - before) / elapsed
    fig.put("healthz", {"latency": probe.latencies, "failures": probe.failures,
                        "worker_cores": cores,
                        "synthesis_ok": len(ok_seconds(results)),
                        "synthesis_other": len(results) - len(ok_seconds(results))})


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
    body: dict[str, Any] = {"text": load_corpus()[0]}
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
        targets = (("memory", url), ("redis", tier2.url), ("bare", bare.url))
        runs: dict[str, dict[int, list[dict[str, float]]]] = {
            name: {c: [] for c in s.cached_connections} for name, _ in targets}
        for _ in range(s.cached_rounds):
            for connections in s.cached_connections:
                for name, target in targets:
                    got = hammer(target, body, connections=connections,
                                 seconds=s.cached_seconds)
                    runs[name][connections].append({
                        "rps": got.rps, "p50": got.p50, "p90": got.p90, "p99": got.p99,
                        "errors": got.errors, "requests": got.requests})
    finally:
        tier2.stop()
        bare.stop()
        os.unlink(handle.name)
    fig.put("cached", {"runs": runs, "bytes": len(data),
                       "connections": list(s.cached_connections),
                       "tool": "wrk" if have_wrk() else "python threads"})


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
