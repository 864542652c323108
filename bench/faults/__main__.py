"""Load and fault runs against real gunicorn on 127.0.0.1, each bounded in time and traffic.

    .venv/bin/python -m bench.faults [--only overload goodput redis kill recycle sigterm soak
                                      fuzz]

1. overload: 4x the service's capacity (workers x (inference threads + queue)) of
   clients for 60 s: every request succeeds or gets a fast 503/429 with Retry-After;
   /healthz (probed from another process) p99 <= 50 ms; worker RSS before/after.
2. goodput: unloaded p50, then 30 s at 1x capacity and 30 s at 4x with clients that
   retry a refused request at once: goodput at 4x >= 80% of 1x, admitted p50 <= 2x
   unloaded, refusals p99 <= 20 ms, /healthz p99 <= 50 ms.
3. redis: REDIS_URL set, Redis stopped and restarted during load: no failed request,
   and the Redis tier is written again once it is back.
4. kill: one worker SIGKILLed during a load of 8 clients (new texts, 9 repeats of
   each): only the requests in flight on it fail (none refused while the replacement
   warms), gunicorn replaces it, /readyz 200.
   recycle: the same load with MAX_REQUESTS=8 (jitter 2): workers are replaced
   during the load and no request fails.
5. sigterm: SIGTERM to the master during load (DRAIN_DELAY_S=1): every request that
   reached the service gets an answer (200, or 503 + Retry-After while draining).
6. soak: 10,000 mixed requests (3% uncached synthesis, cached wav and mp3, front-end
   checks, cached streams, probes, 400s; CACHE_MEMORY_BYTES=32 MiB so the warm-up fills
   the memory tier); worker RSS growth after the 1,500-request warm-up < 5%.
7. fuzz: schemathesis CLI from GET /openapi.json, >= 1,000 generated cases: no 5xx,
   no response outside the document.

Each family is a module of tts.testing.faults (overload, goodput, redis_restart, signals,
soak, fuzz) whose scenario functions return their figures and the list of violated
expectations; tests/test_faults.py runs shorter versions of some of them and asserts
the same. This module runs the chosen scenarios and writes bench/results/faults.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.load import BENCH_DIR
from bench.run_info import machine
from tts.testing.faults.fuzz import fuzz
from tts.testing.faults.goodput import goodput
from tts.testing.faults.outcome import Outcome
from tts.testing.faults.overload import overload
from tts.testing.faults.redis_restart import redis_restart
from tts.testing.faults.signals import WITHIN_CAPACITY, kill_worker, recycle, sigterm
from tts.testing.faults.soak import soak
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.procfs import loadavg
from tts.testing.redis_servers import RedisServer

RESULTS = BENCH_DIR / "results" / "faults.md"
SCENARIOS = ("overload", "goodput", "redis", "kill", "recycle", "sigterm", "soak", "fuzz")


def run(names: Sequence[str], args: argparse.Namespace,
        log: Callable[[str], None]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    redis_binary = shutil.which("redis-server")
    with tempfile.TemporaryDirectory(prefix="faults-redis-") as redis_dir:
        for name in names:
            log(f"{name}: start (load {loadavg()})")
            started = time.monotonic()
            if name == "overload":
                with GunicornServer({}) as server:
                    outcomes.append(overload(server, args.overload_seconds))
            elif name == "goodput":
                with GunicornServer({}) as server:
                    outcomes.append(goodput(server, args.goodput_seconds))
            elif name == "redis":
                if not redis_binary:
                    raise SystemExit("redis-server not found (make redis-server)")
                redis = RedisServer(redis_binary, Path(redis_dir))
                redis.start()
                try:
                    with GunicornServer({**WITHIN_CAPACITY,
                                         "REDIS_URL": redis.url}) as server:
                        outcomes.append(redis_restart(server, redis, args.redis_seconds))
                finally:
                    redis.stop()
            elif name == "kill":
                with GunicornServer(WITHIN_CAPACITY) as server:
                    outcomes.append(kill_worker(server, args.kill_seconds))
            elif name == "recycle":
                with GunicornServer({**WITHIN_CAPACITY, "MAX_REQUESTS": "8",
                                     "MAX_REQUESTS_JITTER": "2"}) as server:
                    outcomes.append(recycle(server, args.recycle_seconds))
            elif name == "sigterm":
                with GunicornServer({"DRAIN_DELAY_S": "1"}) as server:
                    outcomes.append(sigterm(server, args.sigterm_after))
            elif name == "soak":
                with GunicornServer({"CACHE_MEMORY_BYTES": str(32 * 2**20)}) as server:
                    outcomes.append(soak(server, args.soak_requests, args.soak_warm_up))
            elif name == "fuzz":
                with GunicornServer({"QUEUE_SIZE": "64"}) as server:
                    outcomes.append(fuzz(server, args.fuzz_examples, args.fuzz_max_time))
            outcomes[-1].figures["wall_s"] = round(time.monotonic() - started, 1)
            log(f"{name}: {'passed' if outcomes[-1].passed else outcomes[-1].violations}")
    return outcomes


def render(outcomes: Sequence[Outcome], meta: dict[str, str]) -> str:
    lines = ["# Load and fault runs (`python -m bench.faults`)", "",
             f"- date: {meta['date']}", f"- machine: {meta['machine']}",
             f"- command: `{meta['command']}`",
             f"- load average: start {meta['load_start']}, end {meta['load_end']} (shared "
             "machine: other engineers' tests run at the same time)",
             "- every server: `gunicorn -c gunicorn.conf.py` on 127.0.0.1 (production "
             "defaults unless named), started by tts/testing/gunicorn_server.py", "",
             "| scenario | result | key figures |", "|---|---|---|"]
    for o in outcomes:
        keys = {k: v for k, v in o.figures.items() if k not in ("summary", "command")}
        verdict = "**passed**" if o.passed else "**failed**: " + "; ".join(o.violations)
        lines.append(f"| {o.name} | {verdict} | `{json.dumps(keys, ensure_ascii=False)}` |")
    for o in outcomes:
        if o.name == "schemathesis fuzzing":
            lines += ["", "## schemathesis", "", f"`{o.figures['command']}`", "",
                      "```", *o.figures["summary"], "```"]
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--overload-seconds", type=float, default=60)
    parser.add_argument("--goodput-seconds", type=float, default=30)
    parser.add_argument("--redis-seconds", type=float, default=30)
    parser.add_argument("--kill-seconds", type=float, default=20)
    parser.add_argument("--recycle-seconds", type=float, default=30)
    parser.add_argument("--sigterm-after", type=float, default=5)
    parser.add_argument("--soak-requests", type=int, default=10_000)
    # Resident memory settles over the first ~3,000 mixed requests (front-end and ONNX
    # Runtime buffers reach their working sizes), then stays within about 1%: measured
    # in process, RSS every 1,500 requests 598, 609, 612, 613, 613, 615 MiB.
    parser.add_argument("--soak-warm-up", type=int, default=3_000)
    parser.add_argument("--fuzz-examples", type=int, default=100)
    parser.add_argument("--fuzz-max-time", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    meta = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": machine(), "load_start": loadavg(),
            "command": " ".join([".venv/bin/python", "-m", "bench.faults",
                                 *(sys.argv[1:] if argv is None else argv)])}
    outcomes = run(args.only, args, log)
    meta["load_end"] = loadavg()
    text = render(outcomes, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
