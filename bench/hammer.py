"""Cached-hit load: one request repeated over keep-alive connections as fast as they go.

`wrk` (Debian package, `make bench-setup`) drives it; Python threads stand in when it
is not installed, slower but with the same result shape.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import requests

from tts.testing.load import Result, closed_loop, post_tts
from tts.testing.stats import pct


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    errors: int  # socket errors + non-2xx
    p50: float
    p90: float
    p99: float


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return math.nan
    return float(match.group(1)) * _UNITS[match.group(2)]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, body: dict[str, Any], *, connections: int, seconds: float,
        threads: int = 1, path: str = "/api/tts") -> WrkResult:
    """POST `body` as JSON over keep-alive connections for `seconds` (wrk --latency)."""
    script = ("wrk.method = \"POST\"\n"
              "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
              f"wrk.body = {json.dumps(json.dumps(body, ensure_ascii=True))}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
             "--timeout", "10s", "-s", handle.name, url + path],
            capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    finally:
        os.unlink(handle.name)
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.M))
    total = re.search(r"(\d+) requests in", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return WrkResult(float(rps.group(1)) if rps else math.nan,
                     int(total.group(1)) if total else 0,
                     errors + (int(non2xx.group(1)) if non2xx else 0),
                     _seconds(latency.get("50", "")), _seconds(latency.get("90", "")),
                     _seconds(latency.get("99", "")))


def python_hammer(url: str, body: dict[str, Any], *, connections: int,
                  seconds: float) -> WrkResult:
    """A slower stand-in for wrk when it is not installed (keep-alive sessions)."""
    local = threading.local()

    def one() -> Result:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return post_tts(url, body, session=local.session)

    results, elapsed = closed_loop(one, connections, seconds)
    ok = [r.seconds for r in results if r.status == 200]
    return WrkResult(len(ok) / elapsed, len(results), len(results) - len(ok),
                     pct(ok, .5), pct(ok, .9), pct(ok, .99))


def hammer(url: str, body: dict[str, Any], *, connections: int,
           seconds: float) -> WrkResult:
    if have_wrk():
        return wrk(url, body, connections=connections, seconds=seconds)
    return python_hammer(url, body, connections=connections, seconds=seconds)

