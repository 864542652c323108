"""What a benchmark run measures with: its corpus texts, its statistics and a wait
for a quiet machine. The clients that make the load are tts.testing.load's.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
import threading
import time
from pathlib import Path

from tts.testing.procfs import loadavg
from tts.testing.texts import chinese_number, load_corpus

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
_LOGGER = logging.getLogger("bench")  # the drivers' logger: one name in a run's log


class Texts:
    """72-character corpus sentences made distinct (guaranteed cache misses).

    Text n is corpus line n % 100 with its last characters replaced by n read as
    digits (and its full stop kept), so every text keeps the corpus line's length.
    A `tag` separates texts of different phases that share a server.
    """

    def __init__(self, tag: str = "", corpus: list[str] | None = None) -> None:
        self.corpus = corpus or load_corpus()
        self.tag = tag
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def text(self, n: int) -> str:
        line = self.corpus[n % len(self.corpus)]
        mark = self.tag + chinese_number(n)
        return line[: max(1, len(line) - len(mark) - 1)] + mark + "。"

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        return self.text(n)


class MixedTexts:
    """The seed system's mix: `repeat` of requests repeat an earlier text, the rest are new."""

    def __init__(self, texts: Texts, repeat: float = 0.35, seed: int = 7) -> None:
        self.texts = texts
        self.repeat = repeat
        self.issued: list[str] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self.issued and self._random.random() < self.repeat:
                return self._random.choice(self.issued)
            text = self.texts.next()
            self.issued.append(text)
            return text


# ------------------------------------------------------------------ statistics


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..1); nan for no values."""
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan
    pos = q * (len(clean) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(clean) - 1)
    return clean[low] + (clean[high] - clean[low]) * (pos - low)


def ms(seconds: float, digits: int = 0) -> str:
    """Seconds as milliseconds with `digits` decimals; 'n/a' for nan."""
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.{digits}f}"


# ------------------------------------------------------------------ the machine


def wait_for_load(max_load: float, max_wait_s: float,
                  step_s: float = 30.0) -> tuple[float, list[str]]:
    """Before measuring on this shared machine, give other people's jobs a chance to end:
    check the 1-minute load every `step_s` until it is below `max_load`, for at most
    `max_wait_s`. Returns the seconds waited and the load averages seen meanwhile."""
    started = time.monotonic()
    seen = [loadavg()]
    while os.getloadavg()[0] >= max_load and time.monotonic() - started < max_wait_s:
        _LOGGER.info("1-min load %.2f >= %.2f: waiting", os.getloadavg()[0], max_load)
        time.sleep(step_s)
        seen.append(loadavg())
    return time.monotonic() - started, seen
