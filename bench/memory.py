"""Memory and start-up of the service under gunicorn: this tree against earlier commits.

    .venv/bin/python -m bench.memory --against 47016d0 [ccb75c7 ...] [--rounds 3] [--requests 24]

For each side (each earlier commit, exported with `git archive`, and this checkout) and
each round, in turns (reversed every other round) so a neighbour's load falls on all alike:

- WORKERS=2: seconds from spawning `gunicorn -c gunicorn.conf.py` to /readyz 200 with
  every worker warm; RSS, PSS and USS of the master and each worker from
  /proc/<pid>/smaps_rollup, idle and after a warm-up load of uncached /api/tts
  requests; then one worker is SIGKILLed and the seconds until its replacement logs
  "worker ready" are timed (and the replacement must then serve a request).
- WORKERS=1, the same load: the pod's PSS total, so that "what the second worker
  adds" is the difference of two measured totals (with its USS beside it).

PSS splits each shared page between the processes that map it, so the PSS of master
and workers sums to what the pod really holds; USS (private pages) is what a process
would give back if it went away. Prints the table and writes bench/results/memory.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.cached_ab import export
from bench.load import ROOT
from bench.results_md import RESULTS_DIR
from bench.run_info import git_commit, machine
from tts.testing.corpus_texts import Texts
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import closed_loop, synthesize
from tts.testing.procfs import Memory, loadavg

MIB = 2**20


@dataclass(frozen=True)
class Pod:
    """The master's and every worker's memory at one moment."""

    master: Memory
    workers: list[Memory]

    @classmethod
    def of(cls, server: GunicornServer) -> Pod:
        return cls(Memory.of(server.pid), [Memory.of(pid) for pid in server.worker_pids()])

    @property
    def pss_total(self) -> int:
        return self.master.pss + sum(w.pss for w in self.workers)

    @property
    def rss_total(self) -> int:
        return self.master.rss + sum(w.rss for w in self.workers)


@dataclass
class Side:
    """Every measurement of one side (a commit) over the rounds."""

    name: str
    cwd: Path
    start_s: list[float] = field(default_factory=list)
    idle: list[Pod] = field(default_factory=list)
    loaded: list[Pod] = field(default_factory=list)
    one_worker_loaded: list[Pod] = field(default_factory=list)
    replacement_s: list[float] = field(default_factory=list)
    first_s: list[float] = field(default_factory=list)  # the first requests after ready
    later_s: list[float] = field(default_factory=list)  # the rest of the warm-up load
    failed_requests: int = 0


def warm_up_load(url: str, texts: Texts, requests: int, clients: int,
                 side: Side | None = None) -> int:
    """Uncached synthesis requests from `clients` threads; returns how many failed.
    With `side`, the latencies of the first `clients` requests (each worker's first,
    as a rule) and of the others are kept: what warm-up did not do, the first pay."""
    results, _ = closed_loop(lambda: synthesize(url, texts.next()), clients, 300.0,
                             max_requests=requests)
    if side is not None:
        ordered = sorted(results, key=lambda r: r.started)
        side.first_s += [r.seconds for r in ordered[:clients]]
        side.later_s += [r.seconds for r in ordered[clients:]]
    return sum(1 for r in results if r.status != 200) + max(0, requests - len(results))


def time_replacement(server: GunicornServer, timeout_s: float = 60.0) -> float:
    """SIGKILL one worker; seconds until a new worker has logged that it is ready."""
    before = server.ready_lines()
    victim = server.worker_pids()[0]
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    while time.monotonic() - killed < timeout_s:
        if server.ready_lines() > before and victim not in server.worker_pids():
            return time.monotonic() - killed
        time.sleep(0.005)
    raise RuntimeError("no replacement worker became ready" + server.stderr_tail())


def run_side(side: Side, texts: Texts, requests: int) -> None:
    env = {"WORKERS": "2", "SOCKETIO_PORT": "0", "REDIS_URL": "", "CACHE_WARM_FILE": ""}
    server = GunicornServer(env, cwd=side.cwd, ready_streak=1)
    spawned = time.monotonic()
    with server:
        side.start_s.append(time.monotonic() - spawned)
        time.sleep(1.0)  # let start-up garbage settle before reading idle memory
        side.idle.append(Pod.of(server))
        side.failed_requests += warm_up_load(server.url, texts, requests, clients=2,
                                             side=side)
        side.loaded.append(Pod.of(server))
        side.replacement_s.append(time_replacement(server))
        side.failed_requests += warm_up_load(server.url, texts, 2, clients=2)
    with GunicornServer({**env, "WORKERS": "1"}, cwd=side.cwd, ready_streak=1) as single:
        side.failed_requests += warm_up_load(single.url, texts, requests, clients=2)
        side.one_worker_loaded.append(Pod.of(single))


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# ------------------------------------------------------------------ report


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def mib(values: Sequence[float]) -> str:
    return f"{med(values) / MIB:.0f}"


def per_worker(pods: list[Pod], what: Callable[[Memory], int]) -> list[float]:
    return [float(what(w)) for pod in pods for w in pod.workers]


def rows(side: Side) -> dict[str, str]:
    """One column of the table: medians over the rounds (and over workers)."""
    added = [two.pss_total - one.pss_total
             for two, one in zip(side.loaded, side.one_worker_loaded, strict=True)]
    out: dict[str, str] = {}
    for label, pods in (("idle", side.idle), ("after load", side.loaded)):
        out[f"RSS per worker, {label} (MiB)"] = mib(per_worker(pods, lambda m: m.rss))
        out[f"PSS per worker, {label} (MiB)"] = mib(per_worker(pods, lambda m: m.pss))
        out[f"USS per worker, {label} (MiB)"] = mib(per_worker(pods, lambda m: m.uss))
        out[f"master RSS / PSS, {label} (MiB)"] = (
            f"{mib([p.master.rss for p in pods])} / {mib([p.master.pss for p in pods])}")
        out[f"pod total PSS, 2 workers, {label} (MiB)"] = mib([p.pss_total for p in pods])
        out[f"pod total RSS, 2 workers, {label} (MiB)"] = mib([p.rss_total for p in pods])
    out["pod total PSS, 1 worker, after load (MiB)"] = mib(
        [p.pss_total for p in side.one_worker_loaded])
    out["second worker adds to the pod's PSS, after load (MiB)"] = mib(added)
    out["spawn -> /readyz 200, 2 workers warm (s)"] = (
        f"{med(side.start_s):.2f} ({', '.join(f'{x:.2f}' for x in side.start_s)})")
    out["SIGKILL -> replacement worker ready (s)"] = (
        f"{med(side.replacement_s):.2f} ({', '.join(f'{x:.2f}' for x in side.replacement_s)})")
    out["first request after ready / the others, latency (s)"] = (
        f"{med(side.first_s):.2f} / {med(side.later_s):.2f}")
    out["failed requests"] = str(side.failed_requests)
    return out


def verdicts(after: Side) -> list[str]:
    added = med([two.pss_total - one.pss_total
                 for two, one in zip(after.loaded, after.one_worker_loaded, strict=True)])
    pss = med(per_worker(after.loaded, lambda m: m.pss))
    checks = (
        ("PSS per worker after a warm-up load <= 250 MB", f"{pss / 1e6:.0f} MB", pss <= 250e6),
        ("second worker adds <= 150 MB to the pod's total", f"{added / 1e6:.0f} MB",
         added <= 150e6),
        ("process start to /readyz 200 <= 2 s", f"{med(after.start_s):.2f} s",
         med(after.start_s) <= 2.0),
        ("replacement worker ready <= 1 s", f"{med(after.replacement_s):.2f} s",
         med(after.replacement_s) <= 1.0),
    )
    return ["| target | this tree | verdict |", "|---|---|---|",
            *(f"| {name} | {got} | {'**met**' if ok else '**not met**'} |"
              for name, got, ok in checks)]


def report(sides: list[Side], args: argparse.Namespace, load: tuple[str, str],
           minutes: float) -> str:
    columns = [rows(side) for side in sides]
    header = "| measure (medians) | " + " | ".join(s.name for s in sides) + " |"
    table = [header, "|---" * (len(sides) + 1) + "|",
             *(f"| {key} | " + " | ".join(col[key] for col in columns) + " |"
               for key in columns[0])]
    return "\n".join([
        "# Memory and start-up: this tree against earlier commits, side by side "
        "(`bench/memory.py`)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- code: {git_commit()} against {', '.join(args.against)} (`git archive`, same "
        "interpreter and voice)",
        f"- command: `.venv/bin/python -m bench.memory --against {' '.join(args.against)} "
        f"--rounds {args.rounds} --requests {args.requests}` ({minutes:.1f} min)",
        f"- load average (1/5/15 min): start {load[0]}, end {load[1]}; the machine is "
        "shared, so times are noisier than on a quiet one (the sides take turns)",
        "- service: `gunicorn -c gunicorn.conf.py`, gevent, defaults (INFERENCE_THREADS=1, "
        "ORT_THREADS=2), no Redis, SOCKETIO_PORT=0, 127.0.0.1",
        f"- warm-up load: {args.requests} uncached 72-character /api/tts requests from 2 "
        "clients; memory from /proc/<pid>/smaps_rollup (USS = Private_Clean + "
        "Private_Dirty); per-worker figures are medians over both workers of every round",
        "- second worker adds: pod PSS total (master + workers) with WORKERS=2 minus "
        "with WORKERS=1, both after the same load, per round",
        "- replacement: SIGKILL of one worker (after the load) until the new worker logs "
        "\"worker ready\" (it then serves requests)",
        "",
        "## Targets (issue 17)",
        "",
        *verdicts(sides[-1]),
        "",
        f"## Side by side ({args.rounds} rounds; start and replacement times: median "
        "(each run))",
        "",
        *table,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, nargs="+",
                        help="the earlier commits to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24,
                        help="uncached requests in each warm-up load")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "memory.md")
    args = parser.parse_args()
    started, load_start = time.monotonic(), loadavg()
    texts = Texts("内存")
    with tempfile.TemporaryDirectory(prefix="memory-ab-") as tmp:
        sides = [Side(f"@{commit}", export(commit, mkdir(Path(tmp) / commit)))
                 for commit in args.against]
        sides.append(Side("this tree", ROOT))
        for round_no in range(args.rounds):
            for side in sides if round_no % 2 == 0 else sides[::-1]:
                print(f"round {round_no + 1}: {side.name}", flush=True)
                run_side(side, texts, args.requests)
    text = report(sides, args, (load_start, loadavg()), (time.monotonic() - started) / 60)
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
