"""Prometheus metrics: each request counted and timed, the worker's state, the exposition.

Under gunicorn every worker is its own process, so `prometheus_client` runs in
multiprocess mode: `gunicorn.conf.py` sets `PROMETHEUS_MULTIPROC_DIR` before
anything imports `prometheus_client`, each worker writes its values there, and
whichever worker answers `/metrics` aggregates all of them (gauges of live
workers: summed for queue depth and in-flight, the maximum for device, degraded
and warm-up). Without that variable (the Flask test client, the CLI) the
default registry of this one process is served. The route serving them is in
tts/web/routes/ops.py.

Values that live in the worker (queue depth, in-flight, cache tier counters,
device, degrade switches) are sampled at the end of every request and at every
scrape, in the request's own greenlet: prometheus_client's locks are gevent locks
under gunicorn and must not be taken on the inference threads. A sample writes only
the values that changed since the last one: in multiprocess mode every write goes
to a memory-mapped file under a lock, and a cache hit must not pay for a dozen.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flask import Flask
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

from tts.engines.base import SentenceAudio
from tts.engines.degrade import DegradingEngine
from tts.worker import Worker

_LOGGER = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEVICES = ("cpu", "cuda")
CACHE_TIERS = ("memory", "redis")

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0, 30.0)
_ENGINE_SECONDS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_RTF = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0)

REQUESTS = Counter("tts_http_requests", "HTTP requests answered, by route template, method "
                   "and status.", ["route", "method", "status"])
LATENCY = Histogram("tts_http_request_duration_seconds", "Time from request start to response "
                    "headers, by route template (streams: until the first audio is ready).",
                    ["route"], buckets=_SECONDS)
FIRST_AUDIO = Histogram("tts_time_to_first_audio_seconds", "Time from request start until the "
                        "first audio byte can leave: whole responses (mode=whole) and streams "
                        "(mode=stream).", ["mode"], buckets=_SECONDS)
RTF = Histogram("tts_synthesis_rtf", "Real-time factor per synthesized sentence: engine "
                "seconds (acoustic + vocoder) per second of audio.", buckets=_RTF)
ACOUSTIC = Histogram("tts_acoustic_seconds", "Acoustic model time per synthesized sentence.",
                     buckets=_ENGINE_SECONDS)
VOCODER = Histogram("tts_vocoder_seconds", "Vocoder time per synthesized sentence.",
                    buckets=_ENGINE_SECONDS)
QUEUE_DEPTH = Gauge("tts_queue_depth", "Synthesis jobs admitted and waiting for an inference "
                    "thread (summed over live workers).", multiprocess_mode="livesum")
IN_FLIGHT = Gauge("tts_in_flight", "Synthesis jobs running on inference threads (summed over "
                  "live workers).", multiprocess_mode="livesum")
CAPACITY = Gauge("tts_queue_capacity", "Requests that may run or wait now before a new one "
                 "gets 503, by count and expected wait (summed over live workers).",
                 multiprocess_mode="livesum")
CACHE = Counter("tts_cache_lookups", "Audio cache lookups by tier and result (hit, miss, "
                "error); whole requests and the sentences of long texts.", ["tier", "result"])
DEVICE = Gauge("tts_device", "1 for the device synthesis runs on now (any live worker), "
               "0 otherwise.", ["device"], multiprocess_mode="livemax")
DEGRADED = Gauge("tts_degraded", "1 when work that has an accelerator runs on the CPU instead "
                 "(any live worker).", multiprocess_mode="livemax")
SWITCHES = Counter("tts_degrade_switches", "Moves between accelerator and CPU, by destination "
                   "and reason.", ["to", "reason"])
WARM_UP = Gauge("tts_engine_warm_up_seconds", "Engine warm-up time at start-up (slowest live "
                "worker).", multiprocess_mode="livemax")
READY = Gauge("tts_worker_ready", "Live workers whose engine is loaded and warm.",
              multiprocess_mode="livesum")

# Every (to, reason) DegradeMachine can report, so the series exist (at 0) from the start.
SWITCH_LABELS = (("cpu", "forced"), ("cpu", "queue-wait"), ("cpu", "gpu-utilization"),
                 ("cpu", "gpu-memory"), ("cpu", "failures"), ("accelerator", "forced"),
                 ("accelerator", "auto"), ("accelerator", "recovered"))

@dataclass
class _Seen:
    """What this app last reported from monotonic counters that live elsewhere."""

    cache: dict[str, dict[str, int]] = field(default_factory=dict)
    switches: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# The value each gauge (or labelled gauge series) last got in this process. One table
# per process, as the gauges are: with two apps in one process (tests), each must see
# what the other wrote.
_written: dict[Any, float] = {}


def set_gauge(gauge: Any, value: float) -> None:
    """Write `value` unless the gauge already holds it."""
    if _written.get(gauge) != value:
        gauge.set(value)
        _written[gauge] = value


@lru_cache(maxsize=1024)
def series(metric: MetricWrapperBase, *values: str) -> Any:
    """One labelled series (label values in declaration order), looked up once:
    `labels()` validates and takes a lock on every call, a cost on every request."""
    return metric.labels(*values)


def observe_first_audio(seconds: float, *, streamed: bool = True) -> None:
    """Record the time until the first audio byte of a response could be sent."""
    series(FIRST_AUDIO, "stream" if streamed else "whole").observe(seconds)


def observe_sentence(result: SentenceAudio, sample_rate: int) -> None:
    """The synthesizer's per-sentence hook: acoustic, vocoder and real-time factor."""
    ACOUSTIC.observe(result.acoustic_s)
    VOCODER.observe(result.vocoder_s)
    audio_s = len(result.audio) / sample_rate
    if audio_s > 0:
        RTF.observe((result.acoustic_s + result.vocoder_s) / audio_s)


def sample(app: Flask) -> None:
    """Copy this worker's state into the metrics (cheap; no I/O)."""
    worker: Worker = app.extensions["tts"]
    seen: _Seen = app.extensions["metrics"]
    with seen.lock:
        set_gauge(QUEUE_DEPTH, worker.pool.queued)
        set_gauge(IN_FLIGHT, worker.pool.in_flight)
        set_gauge(CAPACITY, worker.pool.capacity)
        set_gauge(READY, 1 if worker.ready else 0)
        stats = worker.cache.stats()
        for tier in CACHE_TIERS:
            now, before = stats.get(tier, {}), seen.cache.get(tier, {})
            for result, key in (("hit", "hits"), ("miss", "misses"), ("error", "errors")):
                delta = now.get(key, 0) - before.get(key, 0)
                if delta > 0:
                    series(CACHE, tier, result).inc(delta)
        seen.cache = stats
        if worker.warm_up_s is not None:
            set_gauge(WARM_UP, worker.warm_up_s)
        engine = worker.engine
        if engine is None:
            return
        for device in DEVICES:
            set_gauge(series(DEVICE, device), 1 if engine.device == device else 0)
        if not isinstance(engine, DegradingEngine):  # one path: never degraded
            set_gauge(DEGRADED, 0)
            return
        set_gauge(DEGRADED, 1 if engine.degraded else 0)
        counts = engine.switch_counts()
        for (to, reason), count in counts.items():
            delta = count - seen.switches.get((to, reason), 0)
            if delta > 0:
                series(SWITCHES, to, reason).inc(delta)
        seen.switches = counts


def exposition() -> bytes:
    """The text format: every worker's values under gunicorn, this process's otherwise."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def scrape(app: Flask) -> bytes:
    """What `GET /metrics` answers: fresh values of this worker, then the exposition."""
    sample(app)
    return exposition()


def observe_request(app: Flask, route: str, method: str, status: int, elapsed_s: float, *,
                    whole_audio: bool) -> None:
    """Count and time one answered request, then sample the worker (the lifecycle calls
    this for every request, next to writing its log line). `whole_audio`: the
    response carries finished audio, so its time is also a time to first audio.
    Metrics never fail a request: an error here is logged, and the response goes out."""
    try:
        series(REQUESTS, route, method, str(status)).inc()
        series(LATENCY, route).observe(elapsed_s)
        if whole_audio:
            observe_first_audio(elapsed_s, streamed=False)
    except Exception:
        _LOGGER.exception("recording request metrics failed")
    _safe_sample(app)


def init_app(app: Flask) -> None:
    """Create the series that must exist from the start; hook per-sentence engine
    metrics into the synthesizer once the worker is ready."""
    app.extensions["metrics"] = _Seen()
    for tier in CACHE_TIERS:
        for result in ("hit", "miss", "error"):
            CACHE.labels(tier=tier, result=result)
    for to, reason in SWITCH_LABELS:
        SWITCHES.labels(to=to, reason=reason)
    for mode in ("whole", "stream"):
        FIRST_AUDIO.labels(mode=mode)
    worker: Worker = app.extensions["tts"]

    def on_ready() -> None:
        if worker.service is not None and worker.engine is not None:
            rate = worker.engine.sample_rate
            worker.service.synthesizer.on_sentence = lambda r: observe_sentence(r, rate)
        # A worker reports itself ready at once, not only when a request reaches it.
        _safe_sample(app)

    worker.when_ready(on_ready)


def _safe_sample(app: Flask) -> None:
    try:
        sample(app)
    except Exception:  # metrics never fail a request or a start-up
        _LOGGER.exception("metrics sampling failed")

