"""WORKERS / INFERENCE_THREADS / ORT_THREADS combinations side by side, for
bench/healthz_under_load.py: every server starts at once and they are measured
round-robin, so a noisy neighbour hits them alike; medians per combination."""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import ms
from bench.saturation import next_text, saturate, start_server, warm
from tts.testing.gunicorn_server import GunicornServer
from tts.testing.load import synthesize
from tts.testing.stats import pct


@dataclass
class Combo:
    """One combination, its server while the run lasts, and its figures per round."""

    workers: int
    threads: int
    ort: int
    server: GunicornServer | None = None
    rps: list[float] = field(default_factory=list)
    loaded_p50: list[float] = field(default_factory=list)
    single: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def name(self) -> str:
        return f"W={self.workers} I={self.threads} O={self.ort}"

    def env(self) -> dict[str, str]:
        return {"WORKERS": str(self.workers), "INFERENCE_THREADS": str(self.threads),
                "ORT_THREADS": str(self.ort)}


def run_combinations(combos: list[Combo], rounds: int, clients: int, seconds: float,
                     singles: int, cwd: Path) -> list[str]:
    with ExitStack() as stack:
        for combo in combos:  # all up at once; idle servers use no CPU (no ORT spinning)
            combo.server = start_server(combo.env(), cwd)
            stack.callback(combo.server.stop)
        for combo in combos:
            assert combo.server is not None
            warm(combo.server.url, clients)
        for _ in range(rounds):
            for combo in combos:
                assert combo.server is not None
                results, elapsed = saturate(combo.server.url, clients, seconds)
                ok = [r.seconds for r in results if r.status == 200]
                combo.errors += len(results) - len(ok)
                combo.rps.append(len(ok) / elapsed)
                combo.loaded_p50.append(statistics.median(ok))
                time.sleep(0.5)
                for _ in range(singles):
                    result = synthesize(combo.server.url, next_text())
                    if result.status == 200:
                        combo.single.append(result.seconds)
                    else:
                        combo.errors += 1
    best_rps = max(combos, key=lambda c: statistics.median(c.rps))
    best_single = min(combos, key=lambda c: statistics.median(c.single))
    base = statistics.median(combos[0].rps)
    lines = [
        f"### Combinations: {rounds} interleaved rounds; {clients} clients x {seconds:g} s "
        f"for throughput, then {singles} one-at-a-time requests",
        "",
        "| combination | requests/s (median) | vs first | p50 under load ms | one request "
        "p50 ms | one request p90 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for combo in combos:
        rps = statistics.median(combo.rps)
        lines.append(
            f"| {combo.name} | {rps:.2f} ({min(combo.rps):.2f}-{max(combo.rps):.2f}) | "
            f"{rps / base:.2f}x | {ms(statistics.median(combo.loaded_p50))} | "
            f"{ms(statistics.median(combo.single))} | {ms(pct(combo.single, .9))} | "
            f"{combo.errors} |")
    lines += ["", f"Highest throughput: {best_rps.name}. Lowest one-request latency: "
              f"{best_single.name}. (W workers, I inference threads each, O ONNX Runtime "
              "intra-op threads per session.)", ""]
    return lines


def parse_combo(text: str) -> Combo:
    workers, threads, ort = (int(v) for v in text.split(","))
    return Combo(workers, threads, ort)
