"""Cache hits of this checkout against an earlier commit and a bare Flask app, side by side.

    .venv/bin/python -m bench.cached_ab --against dddaba7 [--workers 2] [--rounds 5] [--pin]

Prints the comparison and writes it to bench/results/cached_ab.md (cached_ab_pinned.md with
`--pin`) with the run's details.
With `--pin` (meant for `--workers 1`) the servers run on CPU 0 and `wrk` on CPU 1, so the
worker is the bottleneck and its CPU time per request is the cost of one hit, without the
load generator competing for the same core.

`python -m bench` reports hits as a share of bare Flask; this asks the narrower question
"did a change to the hit path help?" on a shared, noisy machine. The earlier commit is
exported with `git archive` and served from there (same voice, same settings), and the
three servers take turns under `wrk`, so a neighbour's load falls on all of them alike.
Medians of the per-round ratios to bare are printed, with p99s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.hammer import WrkResult, hammer
from bench.load import ROOT
from bench.phases import prime
from bench.results_md import RESULTS_DIR
from bench.run_info import git_commit, machine
from bench.servers import BareServer
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.procfs import children_of, cpu_seconds, loadavg
from tts.testing.texts import load_corpus

SERVER_CPU, WRK_CPU = 0, 1  # with --pin


def export(commit: str, into: Path) -> Path:
    """A clean copy of `commit`'s tree (no .venv: it runs on this checkout's interpreter)."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def pin(pid: int, cpu: int) -> None:
    """Every thread of `pid` and of its children onto one CPU."""
    for process in (pid, *children_of(pid)):
        for task in Path(f"/proc/{process}/task").iterdir():
            os.sched_setaffinity(int(task.name), {cpu})


def summary(name: str, runs: list[WrkResult], bare: list[WrkResult],
            cpu_us: list[float]) -> str:
    ratios = [run.rps / ceiling.rps for run, ceiling in zip(runs, bare, strict=True)]
    rounds = ", ".join(f"{x:.2f}" for x in ratios)
    return (f"{name:>10}: {statistics.median(r.rps for r in runs):7.0f} requests/s, "
            f"{statistics.median(ratios):.2f}x bare (rounds {rounds}), "
            f"p50 {statistics.median(r.p50 for r in runs) * 1e3:.1f} ms, "
            f"p99 {statistics.median(r.p99 for r in runs) * 1e3:.1f} ms, "
            f"worker CPU {statistics.median(cpu_us):.0f} us/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the earlier commit to compare with")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pin", action="store_true",
                        help=f"servers on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}")
    args = parser.parse_args()
    started_load = loadavg()
    body = {"text": load_corpus()[0]}
    env = {"WORKERS": str(args.workers), "SOCKETIO_PORT": "0"}
    with tempfile.TemporaryDirectory(prefix="cached-ab-") as tmp, ExitStack() as running:
        earlier = f"@{args.against}"  # cannot collide with "this" or "bare"
        urls, masters, served = {}, {}, set()
        for name, cwd in ((earlier, export(args.against, Path(tmp))), ("this", ROOT)):
            server = running.enter_context(GunicornServer(env, cwd=cwd))
            urls[name], masters[name] = server.url, server.pid
            data = prime(server.url, body, "hit-memory")
            served.add(data)
        if len(served) != 1:
            raise SystemExit(f"{args.against} and this tree answer with different audio: "
                             "the hits would not be compared like for like")
        data_file = Path(tmp) / "hit.wav"
        data_file.write_bytes(data)
        bare = BareServer(data_file, args.workers)
        bare.start()
        running.callback(bare.stop)
        urls["bare"], masters["bare"] = bare.url, bare.pid
        if args.pin:
            for master in masters.values():
                pin(master, SERVER_CPU)
            os.sched_setaffinity(0, {WRK_CPU})  # wrk inherits it
        runs: dict[str, list[WrkResult]] = {name: [] for name in urls}
        cpu_us: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(args.rounds):
            for name, url in urls.items():
                workers = children_of(masters[name])
                before = cpu_seconds(workers)
                got = hammer(url, body, connections=args.connections, seconds=args.seconds)
                runs[name].append(got)
                cpu_us[name].append((cpu_seconds(workers) - before) / max(1, got.requests)
                                    * 1e6)
    lines = [f"{args.workers} workers, {args.connections} keep-alive connections, "
             f"{args.rounds} rounds of {args.seconds:g} s each, {len(data)} bytes per response",
             *(summary(name, runs[name], runs["bare"], cpu_us[name])
               for name in (earlier, "this")),
             f"{'bare':>10}: {statistics.median(r.rps for r in runs['bare']):7.0f} requests/s, "
             f"p99 {statistics.median(r.p99 for r in runs['bare']) * 1e3:.1f} ms, "
             f"worker CPU {statistics.median(cpu_us['bare']):.0f} us/request"]
    print("\n".join(lines))
    report = [
        "# Cache hits: this tree against an earlier commit, side by side (`bench/cached_ab.py`)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- code: 'this' = {git_commit()}; against {args.against}",
        f"- command: `.venv/bin/python -m bench.cached_ab {' '.join(sys.argv[1:])}`",
        f"- load average: start {started_load}, end {loadavg()}",
        "- each target: POST /api/tts with one corpus sentence (a tier-1 hit) under `wrk`, "
        "targets taking turns; ratios are to bare Flask in the same round; worker CPU is "
        "the workers' user + system time (/proc) over the requests served"
        + (f"; servers pinned to CPU {SERVER_CPU}, wrk to CPU {WRK_CPU}" if args.pin else ""),
        "",
        "```",
        *lines,
        "```",
        "",
    ]
    (RESULTS_DIR / ("cached_ab_pinned.md" if args.pin else "cached_ab.md")).write_text(
        "\n".join(report))


if __name__ == "__main__":
    main()
