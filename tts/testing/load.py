"""HTTP load clients for tests and benchmarks against a running service.

Everything here talks to 127.0.0.1 only and is bounded: closed-loop clients stop at a
deadline (and optionally a request budget), every request has a timeout. Python threads
drive synthesis runs (a few requests per second, where a Python client costs little);
the high-rate cached runs are bench/hammer.py's.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from tts.testing.gunicorn_server import GunicornServer
from tts.testing.ports import HOST

TIMEOUT_S = 60.0
WAV_HEADER_BYTES = 44  # tts/audio/stream.py: the streamed WAV header, sent first


@dataclass(frozen=True)
class Result:
    status: int  # 0: no HTTP answer (connection error, timeout)
    seconds: float
    retry_after: str | None = None
    cache: str | None = None
    size: int = 0
    error: str = ""
    started: float = 0.0  # monotonic
    audio_s: float = 0.0  # X-Audio-Duration: seconds of audio in the answer


def post_tts(url: str, body: dict[str, Any], *, path: str = "/api/tts",
             session: requests.Session | None = None, timeout: float = TIMEOUT_S) -> Result:
    started = time.monotonic()
    t0 = time.perf_counter()
    try:
        response = (session or requests).post(url + path, json=body, timeout=timeout)
    except requests.RequestException as exc:
        kind = "refused" if "refused" in str(exc).lower() else type(exc).__name__
        return Result(0, time.perf_counter() - t0, error=kind, started=started)
    return Result(response.status_code, time.perf_counter() - t0,
                  response.headers.get("Retry-After"), response.headers.get("X-Cache"),
                  len(response.content), started=started,
                  audio_s=float(response.headers.get("X-Audio-Duration") or 0))


def synthesize(url: str, text: str, session: requests.Session | None = None) -> Result:
    return post_tts(url, {"text": text}, session=session)


def first_audio(url: str, text: str, path: str = "/api/tts/stream",
                header_bytes: int = WAV_HEADER_BYTES) -> tuple[int, float, float]:
    """(status, seconds to the first audio byte after the header, seconds to the end)."""
    host, port = url.removeprefix("http://").split(":")
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    try:
        body = json.dumps({"text": text}).encode()
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        received, first = 0, math.nan
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            received += len(chunk)
            if math.isnan(first) and received > header_bytes:
                first = time.perf_counter() - started
        return response.status, first, time.perf_counter() - started
    except OSError:
        return 0, math.nan, time.perf_counter() - started
    finally:
        conn.close()


def closed_loop(request: Callable[[], Result], clients: int, duration_s: float,
                max_requests: int | None = None, stop: threading.Event | None = None, *,
                window_only: bool = False) -> tuple[list[Result], float]:
    """`clients` threads calling `request` back to back until the deadline (or budget,
    or `stop`). Returns the results and the seconds until the last request finished;
    with `window_only`, only the requests that finished before the deadline count and
    the seconds are `duration_s` (a rate over a fixed window)."""
    results: list[Result] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s
    budget = itertools.count()

    def client() -> None:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if max_requests is not None and next(budget) >= max_requests:
                return
            result = request()
            if window_only and time.monotonic() >= deadline:
                return
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + TIMEOUT_S + 5)
    return results, duration_s if window_only else time.monotonic() - started


@dataclass
class Background:
    """Threads looping `work` until stopped: load running beside a measurement."""

    work: Callable[[], object]
    count: int
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Background:
        def loop() -> None:
            while not self._stop.is_set():
                self.work()

        self._threads = [threading.Thread(target=loop, daemon=True) for _ in range(self.count)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT_S + 5)


def probe_healthz(url: str, interval_s: float, stop: Connection, out: Connection) -> None:
    """GET /healthz every `interval_s`, each on a new connection (as kubelet probes), until
    `stop` has something to read; then send (latencies of the 200s, count of the rest)
    on `out`. Meant as the target of a separate process, so that the GIL of the threads
    making the load does not delay the probes: keep it a top-level function."""
    parts = urlsplit(url)
    latencies: list[float] = []
    failures = 0
    next_at = time.monotonic()
    while not stop.poll():
        started = time.perf_counter()
        conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            seconds = time.perf_counter() - started
        except OSError:
            failures += 1
        else:
            if response.status == 200:
                latencies.append(seconds)
            else:
                failures += 1
        finally:
            conn.close()
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.monotonic()))
    out.send((latencies, failures))


class HealthzProbe:
    """`probe_healthz` in a separate process while the `with` block runs; after it,
    `latencies` (of the 200s) and `failures` (the rest).

    `method`: the multiprocessing start method ("fork" only before any thread exists).
    `settle_s`: wait after the start (a spawned child imports before it probes).
    `collect_timeout_s`: how long to wait for the child's figures after the stop (None:
    as long as it takes; on a timeout the figures stay empty)."""

    def __init__(self, url: str, interval_s: float = 0.02, *,
                 method: Literal["spawn", "fork"] = "spawn", settle_s: float = 0.0,
                 collect_timeout_s: float | None = None) -> None:
        ctx = (multiprocessing.get_context("fork") if method == "fork"
               else multiprocessing.get_context("spawn"))
        self._stop_recv, self._stop_send = ctx.Pipe(duplex=False)
        self._out_recv, self._out_send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=probe_healthz,
                                    args=(url, interval_s, self._stop_recv, self._out_send))
        self._settle_s = settle_s
        self._collect_timeout_s = collect_timeout_s
        self.latencies: list[float] = []
        self.failures = 0

    def __enter__(self) -> HealthzProbe:
        self._process.start()
        if self._settle_s:
            time.sleep(self._settle_s)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_send.send(True)
        if self._collect_timeout_s is None or self._out_recv.poll(self._collect_timeout_s):
            self.latencies, self.failures = self._out_recv.recv()
        self._process.join(10)


def capacity(server: GunicornServer) -> int:
    """Requests the workers admit at once now before refusing: the queue-capacity gauge
    summed over live workers (bounded by count, and by expected wait once the workers
    have measured what a request costs)."""
    text = requests.get(server.url + "/metrics", timeout=5).text
    return sum(int(float(line.split()[-1])) for line in text.splitlines()
               if line.startswith("tts_queue_capacity "))


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    limit = time.monotonic() + timeout_s
    while time.monotonic() < limit:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False
