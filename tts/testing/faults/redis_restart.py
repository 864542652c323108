"""Redis stopped and restarted under load: no request may fail, and the Redis tier
is written again once it is back."""

from __future__ import annotations

import threading
import time
from collections import Counter

from tts.testing.corpus_texts import MixedTexts, Texts
from tts.testing.faults.outcome import Outcome, statuses
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import closed_loop, synthesize, wait_until
from tts.testing.redis_servers import RedisServer


def redis_restart(server: GunicornServer, redis: RedisServer, seconds: float,
                  clients: int = 3) -> Outcome:
    """Mixed load (35% repeats) while Redis goes away at 1/3 and comes back at 2/3."""
    out = Outcome("redis restart")
    mix = MixedTexts(Texts("红"), 0.35)
    events: list[tuple[str, float]] = []

    def chaos() -> None:
        start = time.monotonic()
        time.sleep(seconds / 3)
        redis.stop()
        events.append(("redis stopped", time.monotonic() - start))
        time.sleep(seconds / 3)
        redis.start()
        events.append(("redis started", time.monotonic() - start))

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    results, elapsed = closed_loop(lambda: synthesize(server.url, mix.next()), clients,
                                   seconds)
    thread.join(30)
    # Back: new entries reach Redis again (the tier recovers by itself).
    after = [synthesize(server.url, mix.texts.next()) for _ in range(4)]
    with redis.client() as client:
        keys_after = wait_until(lambda: client.dbsize() > 0, 10)
    bad = [r for r in [*results, *after] if r.status != 200]
    out.figures = {"seconds": round(elapsed, 1), "requests": len(results) + len(after),
                   "statuses": statuses([*results, *after]), "events": events,
                   "cache_headers": dict(Counter(r.cache for r in results)),
                   "redis_written_after_restart": keys_after}
    out.expect(not bad, f"{len(bad)} failed requests: {statuses(bad)}")
    out.expect(len(events) == 2, "Redis was not stopped and restarted")
    out.expect(keys_after, "nothing was written to Redis after it came back")
    return out
