"""Overload: several times the service's capacity of clients, with /healthz probed
from another process so the clients' GIL does not distort it."""

from __future__ import annotations

import math
import time

from tts.testing.corpus_texts import Texts
from tts.testing.faults.outcome import Outcome, statuses, worker_rss
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import HealthzProbe, Result, capacity, closed_loop, synthesize
from tts.testing.stats import pct


def overload(server: GunicornServer, seconds: float, multiple: int = 4,
             healthz_p99_s: float = 0.05, refusal_s: float = 1.0,
             refusal_p50_s: float = 0.1) -> Outcome:
    """`multiple` x capacity clients for `seconds`; a refused client waits 0.1 s."""
    out = Outcome("overload")
    cap = capacity(server)
    clients = multiple * cap
    texts = Texts("超")
    for _ in range(2):  # both workers past their first requests
        synthesize(server.url, texts.next())
    rss_before = worker_rss(server)

    def one() -> Result:
        result = synthesize(server.url, texts.next())
        if result.status in (429, 503):
            time.sleep(0.1)
        return result

    with HealthzProbe(server.url, 0.02, settle_s=1.0, collect_timeout_s=30) as probe:
        results, elapsed = closed_loop(one, clients, seconds)
    time.sleep(1.0)
    rss_after = worker_rss(server)
    ok = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status in (429, 503)]
    bad = [r for r in results if r.status not in (200, 429, 503)]
    no_retry_after = [r for r in refused if not (r.retry_after or "").isdigit()]
    refusal_p99 = pct([r.seconds for r in refused], .99)
    out.figures = {
        "capacity": cap, "clients": clients, "seconds": round(elapsed, 1),
        "requests": len(results), "statuses": statuses(results),
        "ok_per_s": round(len(ok) / elapsed, 2),
        "ok_p50_s": round(pct([r.seconds for r in ok], .5), 3),
        "ok_max_s": round(max((r.seconds for r in ok), default=math.nan), 3),
        "refused_p50_ms": round(1000 * pct([r.seconds for r in refused], .5), 1),
        "refused_p99_ms": round(1000 * refusal_p99, 1),
        "healthz_n": len(probe.latencies), "healthz_failures": probe.failures,
        "healthz_p50_ms": round(1000 * pct(probe.latencies, .5), 1),
        "healthz_p99_ms": round(1000 * pct(probe.latencies, .99), 1),
        "healthz_max_ms": round(1000 * max(probe.latencies, default=math.nan), 1),
        "rss_before_mb": rss_before, "rss_after_mb": rss_after,
    }
    out.expect(not bad, f"{len(bad)} requests neither succeeded nor were refused: "
                        f"{statuses(bad)}")
    out.expect(not no_retry_after, f"{len(no_retry_after)} refusals without Retry-After")
    out.expect(bool(ok), "nothing succeeded under overload")
    out.expect(bool(refused), "4x capacity was never refused")
    out.expect(math.isnan(refusal_p99) or refusal_p99 < refusal_s,
               f"refusals are slow: p99 {refusal_p99 * 1000:.0f} ms")
    refusal_p50 = pct([r.seconds for r in refused], .5)
    out.expect(math.isnan(refusal_p50) or refusal_p50 < refusal_p50_s,
               f"refusals are slow: p50 {refusal_p50 * 1000:.0f} ms")
    healthz_p99 = pct(probe.latencies, .99)
    out.expect(probe.failures == 0 and len(probe.latencies) > 0,
               f"/healthz failed {probe.failures} times")
    out.expect(healthz_p99 <= healthz_p99_s,
               f"/healthz p99 {healthz_p99 * 1000:.0f} ms > {healthz_p99_s * 1000:.0f} ms")
    grown = [a - b for a, b in zip(rss_after, rss_before, strict=False)]
    out.expect(all(g < 150 for g in grown), f"worker RSS grew by {grown} MiB under overload")
    out.expect(server.process is not None and server.process.poll() is None, "master died")
    return out
