"""Goodput under overload: what the service still serves when 4x its capacity of clients
retry a refused request at once (no back-off, Retry-After ignored, each on its own
keep-alive connection), against what it serves at 1x in the same run; /healthz probed
from another process meanwhile. Capacity is what /readyz says the workers admit now."""

from __future__ import annotations

import math

from tts.testing.corpus_texts import Texts
from tts.testing.faults.outcome import Outcome, statuses
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import HealthzProbe, Result, capacity, synthesize
from tts.testing.stats import pct
from tts.testing.storm import retrying_storm


def goodput(server: GunicornServer, seconds: float, multiple: int = 4, *,
            unloaded_requests: int = 6, min_ratio: float = 0.8, max_latency_x: float = 2.0,
            healthz_p99_s: float = 0.05, refusal_p99_s: float = 0.02) -> Outcome:
    """Unloaded p50, then `seconds` at 1x capacity, then `seconds` at `multiple` x."""
    out = Outcome(f"goodput at {multiple}x")
    texts = Texts("载")
    for _ in range(2 * server.workers):  # every worker past its first requests
        synthesize(server.url, texts.next())
    unloaded = [synthesize(server.url, texts.next()) for _ in range(unloaded_requests)]
    unloaded_p50 = pct([r.seconds for r in unloaded if r.status == 200], .5)
    cap = capacity(server)  # once the workers know what a request costs

    def phase(clients: int) -> list[Result]:
        return retrying_storm(server.url, texts, clients, seconds)

    base = phase(cap)
    with HealthzProbe(server.url, 0.02, settle_s=1.0, collect_timeout_s=30) as probe:
        loaded = phase(multiple * cap)
    base_ok = [r for r in base if r.status == 200]
    ok = [r for r in loaded if r.status == 200]
    refused = [r for r in loaded if r.status in (429, 503)]
    bad = [r for r in loaded + base if r.status not in (200, 429, 503)]
    no_retry_after = [r for r in refused if not (r.retry_after or "").isdigit()]
    ratio = len(ok) / len(base_ok) if base_ok else math.nan
    admitted_p50 = pct([r.seconds for r in ok], .5)
    latency_x = admitted_p50 / unloaded_p50
    refusal_p99 = pct([r.seconds for r in refused], .99)
    healthz_p99 = pct(probe.latencies, .99)
    out.figures = {
        "capacity": cap, "clients": [cap, multiple * cap], "seconds": seconds,
        "unloaded_p50_s": round(unloaded_p50, 3),
        "ok_per_s_1x": round(len(base_ok) / seconds, 2),
        "ok_per_s_4x": round(len(ok) / seconds, 2),
        "goodput_ratio": round(ratio, 2),
        "ok_p50_s_1x": round(pct([r.seconds for r in base_ok], .5), 3),
        "ok_p50_s_4x": round(admitted_p50, 3), "ok_p50_vs_unloaded": round(latency_x, 2),
        "ok_max_s_4x": round(max((r.seconds for r in ok), default=math.nan), 3),
        "statuses_1x": statuses(base), "statuses_4x": statuses(loaded),
        "refused_p50_ms": round(1000 * pct([r.seconds for r in refused], .5), 1),
        "refused_p99_ms": round(1000 * refusal_p99, 1),
        "retry_after_s": sorted({int(r.retry_after or 0) for r in refused
                                 if r not in no_retry_after}),
        "healthz_n": len(probe.latencies), "healthz_failures": probe.failures,
        "healthz_p99_ms": round(1000 * healthz_p99, 1),
    }
    out.expect(not bad, f"{len(bad)} requests neither succeeded nor were refused: "
                        f"{statuses(bad)}")
    out.expect(not no_retry_after, f"{len(no_retry_after)} refusals without Retry-After")
    out.expect(ratio >= min_ratio, f"goodput at {multiple}x is {ratio:.2f} of 1x "
                                   f"(< {min_ratio:g})")
    out.expect(latency_x <= max_latency_x,
               f"admitted p50 {admitted_p50:.2f} s is {latency_x:.1f}x unloaded "
               f"{unloaded_p50:.2f} s (> {max_latency_x:g}x)")
    out.expect(math.isnan(refusal_p99) or refusal_p99 <= refusal_p99_s,
               f"refusals p99 {refusal_p99 * 1000:.0f} ms > {refusal_p99_s * 1000:.0f} ms")
    out.expect(probe.failures == 0 and len(probe.latencies) > 0,
               f"/healthz failed {probe.failures} times")
    out.expect(healthz_p99 <= healthz_p99_s,
               f"/healthz p99 {healthz_p99 * 1000:.0f} ms > {healthz_p99_s * 1000:.0f} ms")
    out.expect(server.process is not None and server.process.poll() is None, "master died")
    return out
