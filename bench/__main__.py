"""The benchmark suite: the service under gunicorn as in production, side by side with a
seed-style baseline (bench/seed_baseline.py) and a bare Flask app, in one run.

    make bench          # = .venv/bin/python -m bench
    .venv/bin/python -m bench [--quick] [--wait-load 1.5 --wait-max 1200]

Measures RTF over the 100-sentence corpus (bench/rtf.py), uncached end-to-end latency
of 72-character requests, uncached requests/s against concurrency, /healthz under
saturation, cached requests/s (memory tier, Redis tier with a real redis-server) as a
share of a bare Flask app serving the same bytes, streaming time to first audio (alone
and beside 4 other streams), cold start, resident memory per worker, and the seed's
35%-repeat mix. Writes bench/results/bench.md, bench/results/*.png and
bench/results/bench.json (bench/RESULTS.md indexes every result file).
Everything binds 127.0.0.1; every phase is bounded in time. This module starts the
servers and runs the phases (bench/phases.py) in order; bench/results_md.py and
bench/plots.py write the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import plots
from bench.load import BENCH_DIR, ROOT, ms, wait_for_load
from bench.phases import (
    Figures,
    Settings,
    measure_cached,
    measure_cold_start,
    measure_healthz,
    measure_latency,
    measure_mixed,
    measure_rtf,
    measure_sweep,
    measure_ttfa,
)
from bench.results_md import RESULTS_DIR, render
from bench.run_info import git_commit, machine
from bench.seed_baseline import RAW_VOICE
from bench.servers import SeedServer
from tts.testing.corpus_texts import Texts
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import synthesize
from tts.testing.procfs import loadavg, rss_mb
from tts.testing.redis_servers import RedisServer
from tts.testing.stats import pct

_LOGGER = logging.getLogger("bench")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run to check the harness")
    parser.add_argument("--wait-load", type=float, default=None,
                        help="first wait until the 1-min load average is below this")
    parser.add_argument("--wait-max", type=float, default=1200.0)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "bench.md")
    return parser.parse_args(argv)


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
    waited, seen = (0.0, [loadavg()])
    if args.wait_load is not None:
        waited, seen = wait_for_load(args.wait_load, args.wait_max)
    started = time.monotonic()
    fig.meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(), "commit": git_commit(), "python": platform.python_version(),
        "command": shlex.join([".venv/bin/python", "-m", "bench",
                               *(sys.argv[1:] if argv is None else argv)]),
        "load_waited_s": waited, "load_seen_while_waiting": seen,
        "load_start": loadavg(), "quick": args.quick,
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
    fig.meta["load_end"] = loadavg()
    fig.meta["duration_s"] = time.monotonic() - started
    plots.write_all(RESULTS_DIR, fig.values)
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
