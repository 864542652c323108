"""/healthz latency while synthesis saturates every core, overload 503s, and a
side-by-side of WORKERS / INFERENCE_THREADS / ORT_THREADS combinations.

Everything runs against real gunicorn + gevent workers on 127.0.0.1 (started by
tts/testing/gunicorn_server.py, so bound to loopback and without gunicorn's shared
control socket; otherwise `gunicorn -c gunicorn.conf.py` with the given settings).
The load is bench/saturation.py's; part 3 is bench/concurrency_combos.py.

1. Saturation (production defaults unless --env): --clients threads send distinct
   ~72-character texts (always cache misses) for --duration seconds while another
   *process* (so the clients' GIL does not distort it) opens a fresh connection to
   /healthz every --probe-interval, as kubelet does. Reports /healthz p50/p90/p99,
   synthesis throughput and latency, and how many cores the service, this script
   and everything else on the machine used meanwhile.
2. Overload: bursts of 4x the total capacity (workers x (threads + queue)) at
   once; reports the share and latency of 503s.
3. Combinations: all servers start together and are measured round-robin over
   --rounds (throughput with --config-clients clients, then one-client latency),
   so a noisy neighbour hits them alike; medians per combination.

Usage (repo root): .venv/bin/python bench/healthz_under_load.py [--repo DIR]
Writes the markdown section to bench/results/healthz_under_load.md as well.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.concurrency_combos import parse_combo, run_combinations
from bench.load import ROOT, ms
from bench.run_info import git_commit, machine
from bench.saturation import next_text, saturate, start_server, warm
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import HealthzProbe, Result, capacity, synthesize
from tts.testing.procfs import cpu_seconds, loadavg
from tts.testing.stats import pct

RESULTS = ROOT / "bench" / "results" / "healthz_under_load.md"


# ------------------------------------------------------------------ CPU accounting


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuWindow:
    """Cores used during a window by the service's workers, this script, and the rest."""

    workers: list[int]
    started: float = 0.0
    marks: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cores: dict[str, float] = field(default_factory=dict)

    def __enter__(self) -> CpuWindow:
        self.started = time.monotonic()
        self.marks = (self._service(), self._self(), machine_busy_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.started
        service = (self._service() - self.marks[0]) / wall
        client = (self._self() - self.marks[1]) / wall
        machine = (machine_busy_s() - self.marks[2]) / wall
        self.cores = {"service": service, "bench": client,
                      "other": max(0.0, machine - service - client)}

    def _service(self) -> float:
        return cpu_seconds(self.workers)

    @staticmethod
    def _self() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system


# ------------------------------------------------------------------ saturation and overload


def run_saturation(server: GunicornServer, clients: int, duration_s: float,
                   interval_s: float) -> list[str]:
    warm(server.url, clients)
    # fork: the probe starts before any client thread exists
    with (CpuWindow(server.worker_pids()) as cpu,
          HealthzProbe(server.url, interval_s, method="fork") as probe):
        results, elapsed = saturate(server.url, clients, duration_s)
    latencies, failures = probe.latencies, probe.failures
    ok = [r for r in results if r.status == 200]
    other = sorted({r.status for r in results} - {200})
    lines = [
        f"### Saturation: {clients} clients, {elapsed:.0f} s, production defaults",
        "",
        f"Cores used meanwhile: service workers {cpu.cores['service']:.2f}, this script "
        f"{cpu.cores['bench']:.2f}, other processes on the machine {cpu.cores['other']:.2f} "
        f"(of {os.cpu_count()}).",
        "",
        "| measure | n | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|---|",
        f"| /healthz latency (ms, fresh connection each) | {len(latencies)} | "
        f"{ms(pct(latencies, .5), 1)} | {ms(pct(latencies, .9), 1)} | "
        f"{ms(pct(latencies, .99), 1)} | {ms(max(latencies, default=float('nan')), 1)} |",
        f"| synthesis latency (ms, 72 chars, uncached) | {len(ok)} | "
        f"{ms(pct([r.seconds for r in ok], .5))} | {ms(pct([r.seconds for r in ok], .9))} | "
        f"{ms(pct([r.seconds for r in ok], .99))} | "
        f"{ms(max((r.seconds for r in ok), default=float('nan')))} |",
        "",
        f"/healthz failures: {failures}. Synthesis: {len(ok) / elapsed:.2f} requests/s, "
        f"{sum(r.audio_s for r in ok) / elapsed:.1f} s of audio per second; "
        f"non-200 replies: {len(results) - len(ok)} {other or ''}.",
        "",
    ]
    return lines


def run_overload(server: GunicornServer, capacity: int, bursts: int) -> list[str]:
    size = 4 * capacity
    results: list[Result] = []
    with ThreadPoolExecutor(size) as pool:
        for _ in range(bursts):
            barrier = threading.Barrier(size)

            def fire(text: str, barrier: threading.Barrier = barrier) -> Result:
                barrier.wait(30)
                return synthesize(server.url, text)

            results += pool.map(fire, [next_text() for _ in range(size)])
            time.sleep(1.0)
    ok = [r.seconds for r in results if r.status == 200]
    refused = [r.seconds for r in results if r.status == 503]
    other = [r.status for r in results if r.status not in (200, 503)]
    return [
        f"### Overload: {bursts} bursts of {size} simultaneous requests (4 x capacity "
        f"{capacity})",
        "",
        "| reply | share | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| 503 + Retry-After | {len(refused) / len(results):.0%} | {ms(pct(refused, .5))} | "
        f"{ms(pct(refused, .99))} | {ms(max(refused, default=float('nan')))} |",
        f"| 200 | {len(ok) / len(results):.0%} | {ms(pct(ok, .5))} | {ms(pct(ok, .99))} | "
        f"{ms(max(ok, default=float('nan')))} |",
        "",
        f"Other outcomes (timeouts, 500s, connection errors): {len(other)} {other or ''}.",
        "",
    ]


# ------------------------------------------------------------------ report


def served_code(repo: Path) -> str:
    """The commit of this checkout, and which tree the servers ran from."""
    tree = "this working tree" if repo == ROOT else f"the tree at {repo}"
    return f"{git_commit()}, served from {tree}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--probe-interval", type=float, default=0.02)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--combos", nargs="*", type=parse_combo,
                        default=[parse_combo(c) for c in ("2,1,2", "2,1,1", "1,2,1", "1,1,2",
                                                          "2,2,1")],
                        help="W,I,O triples; the first is the baseline of the ratios")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config-clients", type=int, default=6)
    parser.add_argument("--config-seconds", type=float, default=8.0)
    parser.add_argument("--singles", type=int, default=6)
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="checkout to serve (default: this working tree)")
    parser.add_argument("--code", default="",
                        help="what --repo holds (e.g. 'abc1234, git archive'); default: HEAD")
    parser.add_argument("--only-combos", action="store_true",
                        help="skip the saturation and overload parts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = ".venv/bin/python bench/healthz_under_load.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    lines = [
        "## /healthz under synthesis load, overload, and thread/worker combinations",
        "",
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- machine: {machine()}",
        f"- code: {args.code or served_code(args.repo)}",
        f"- command: `{command.strip()}`",
        f"- load average before: {loadavg()}. The machine is shared: other "
        "engineers run tests on it at the same time, so absolute numbers are noisy; the "
        "'other processes' cores below say how noisy.",
        "",
    ]
    if not args.only_combos:
        server = start_server({}, args.repo)
        try:
            lines += run_saturation(server, args.clients, args.duration, args.probe_interval)
            lines += run_overload(server, capacity(server), args.bursts)
        finally:
            server.stop()
    lines += run_combinations(list(args.combos), args.rounds, args.config_clients,
                              args.config_seconds, args.singles, args.repo)
    lines += [f"Total bench time {time.monotonic() - started:.0f} s; load average after: "
              f"{loadavg()}.", ""]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
