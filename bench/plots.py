"""Matplotlib PNGs for bench/results/bench.md (Agg backend: no display needed)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.results_md import cached_runs
from tts.testing.stats import pct


def _cdf(ax: plt.Axes, values: Sequence[float], label: str) -> None:
    ordered = sorted(v * 1000 for v in values if v == v)  # drop nan
    if ordered:
        ax.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))],
                where="post", label=f"{label} (n={len(ordered)})")


def latency_cdfs(path: Path, panels: Mapping[str, Mapping[str, Sequence[float]]],
                 targets: Mapping[str, float] | None = None) -> None:
    """One panel per measure; in each, the CDF of every series (seconds in, ms shown)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items(), strict=True):
        for label, values in series.items():
            _cdf(ax, values, label)
        if targets and title in targets:
            ax.axvline(targets[title] * 1000, color="grey", linestyle="--", label="target")
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_ylabel("share of requests at or below")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_vs_concurrency(path: Path, levels: Sequence[int],
                              rps: Mapping[str, Sequence[float]],
                              p50: Mapping[str, Sequence[float]]) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for label, values in rps.items():
        left.plot(levels, values, marker="o", label=label)
    left.set_xlabel("concurrent clients")
    left.set_ylabel("requests/s (uncached, 72 characters)")
    left.set_title("Uncached throughput vs concurrency")
    for label, values in p50.items():
        right.plot(levels, [v * 1000 for v in values], marker="o", label=label)
    right.set_xlabel("concurrent clients")
    right.set_ylabel("p50 latency, ms")
    right.set_yscale("log")
    right.set_title("Latency vs concurrency")
    for ax in (left, right):
        ax.set_xticks(list(levels))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cached_bars(path: Path, levels: Sequence[int], rps: Mapping[str, Sequence[float]],
                p99_ms: Mapping[str, Sequence[float]]) -> None:
    """Requests/s and p99 of each target, grouped by connection count."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(rps)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(levels))]
        left.bar(xs, rps[name], width, label=name, color=f"C{i}")
        right.bar(xs, p99_ms[name], width, label=name, color=f"C{i}")
    right.axhline(30, color="grey", linestyle="--", label="p99 target 30 ms")
    left.set_ylabel("requests/s")
    left.set_title("Cached requests/s (same bytes)")
    right.set_ylabel("p99 latency, ms")
    right.set_title("Cached p99 latency")
    for ax in (left, right):
        ax.set_xticks(range(len(levels)), [f"{c} connections" for c in levels])
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(directory: Path, v: Mapping[str, Any]) -> None:
    """The three PNGs bench.md links, from the figures `python -m bench` measured."""
    latency_cdfs(
        directory / "latency.png",
        {"uncached 72-char request, one client": {
            "service": v["latency_1"]["service"], "seed-style baseline": v["latency_1"]["seed"]},
         "time to first audio, 72 chars": {
            "service stream": v["ttfa"]["service"],
            "service stream + 4 streams": v["ttfa"]["service_4"],
            "seed (whole response)": v["ttfa"]["seed"],
            "seed + 4 requests": v["ttfa"]["seed_4"]},
         "35% repeat mix, 4 clients": {
            "service": v["mixed"]["service"]["latency"],
            "seed-style baseline": v["mixed"]["seed"]["latency"]}},
        {"uncached 72-char request, one client": 0.4, "time to first audio, 72 chars": 0.1})
    sweep = v["sweep"]
    levels = sweep["levels"]
    throughput_vs_concurrency(
        directory / "throughput.png", levels,
        {name: [statistics.median(sweep["rps"][name][lvl]) for lvl in levels]
         for name in ("service", "seed")},
        {name: [pct(sweep["latency"][name][lvl], .5) for lvl in levels]
         for name in ("service", "seed")})
    cached = v["cached"]
    levels = cached["connections"]
    label = {"memory": "service tier 1", "redis": "service tier 2", "bare": "bare Flask"}

    def per_level(name: str, what: str, scale: float = 1.0) -> list[float]:
        return [scale * statistics.median(r[what] for r in cached_runs(cached, name, c))
                for c in levels]

    cached_bars(directory / "cached.png", levels,
                {label[k]: per_level(k, "rps") for k in cached["runs"]},
                {label[k]: per_level(k, "p99", 1000) for k in cached["runs"]})
