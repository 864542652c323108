"""Soak: many mixed requests, to show worker memory stops growing after warm-up."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import requests

from tts.testing.corpus_texts import Texts
from tts.testing.faults.outcome import Outcome, statuses, worker_rss
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import Result, closed_loop, post_tts, synthesize


def soak(server: GunicornServer, total: int, warm_up: int, clients: int = 8,
         max_growth: float = 0.05) -> Outcome:
    """`total` mixed requests; worker RSS after `warm_up` vs at the end."""
    out = Outcome("soak")
    rng = random.Random(11)
    texts = Texts("久")
    pool = [texts.next() for _ in range(12)]  # wav + mp3 of each fit the memory tier
    lock = threading.Lock()
    counter = iter(range(total))
    kinds: Counter[str] = Counter()

    def request() -> Result:
        with lock:
            roll = rng.random()
            repeat = rng.choice(pool)
        if roll < 0.03:
            kind, result = "uncached", synthesize(server.url, texts.next())
        elif roll < 0.50:
            kind, result = "cached", synthesize(server.url, repeat)
        elif roll < 0.60:
            kind, result = "cached mp3", post_tts(server.url, {"text": repeat, "format": "mp3"})
        elif roll < 0.72:
            kind, result = "frontend", post_tts(server.url, {"text": repeat},
                                                path="/api/frontend")
        elif roll < 0.80:
            kind, result = "stream (cached)", post_tts(server.url, {"text": repeat},
                                                       path="/api/tts/stream")
        elif roll < 0.88:
            kind = "probe"
            started = time.perf_counter()
            status = requests.get(server.url + rng.choice(["/healthz", "/readyz",
                                                           "/api/voices"]), timeout=30)
            result = Result(status.status_code, time.perf_counter() - started)
        else:
            kind, result = "bad request", post_tts(server.url, {"text": repeat,
                                                                "speed": 9})
            result = Result(200 if result.status == 400 else result.status, result.seconds)
        with lock:
            kinds[kind] += 1
        return result

    def phase(n: int) -> tuple[list[Result], float]:
        budget = [next(counter, None) for _ in range(n)]
        count = sum(1 for b in budget if b is not None)
        return closed_loop(request, clients, 3600, max_requests=count)

    warm_results, warm_s = phase(warm_up)
    time.sleep(1.0)
    rss_warm = worker_rss(server)
    results, main_s = phase(total - warm_up)
    time.sleep(1.0)
    rss_end = worker_rss(server)
    growth = [(e - w) / w for w, e in zip(rss_warm, rss_end, strict=False)]
    everything = [*warm_results, *results]
    bad = [r for r in everything if r.status != 200]
    out.figures = {"requests": len(everything), "seconds": round(warm_s + main_s, 1),
                   "requests_per_s": round(len(everything) / (warm_s + main_s), 1),
                   "kinds": dict(kinds), "statuses": statuses(everything),
                   "rss_after_warm_up_mb": rss_warm, "rss_end_mb": rss_end,
                   "growth": [f"{g:+.1%}" for g in growth],
                   "workers_changed": len(rss_warm) != len(rss_end)}
    out.expect(len(everything) >= total, f"only {len(everything)} of {total} requests ran")
    out.expect(not bad, f"{len(bad)} unexpected answers: {statuses(bad)}")
    out.expect(all(g < max_growth for g in growth),
               f"worker RSS grew {[f'{g:+.1%}' for g in growth]} after warm-up")
    return out
