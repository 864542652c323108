"""Statistics over what a load measured, shared by the fault scenarios and the benchmarks."""

from __future__ import annotations

import math


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..1); nan for no values."""
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan
    pos = q * (len(clean) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(clean) - 1)
    return clean[low] + (clean[high] - clean[low]) * (pos - low)
