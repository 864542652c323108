"""What a benchmark run measures with: its paths, its figures' formatting and a wait
for a quiet machine. The clients that make the load are tts.testing.load's, the texts
they send tts.testing.corpus_texts' and the statistics tts.testing.stats'.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

from tts.testing.procfs import loadavg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
_LOGGER = logging.getLogger("bench")  # the drivers' logger: one name in a run's log


# ------------------------------------------------------------------ formatting


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
