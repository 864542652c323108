"""Uncached synthesis load for bench/healthz_under_load.py and its combinations: distinct
~72-character texts, clients that keep every core busy, a warm-up, a server start
that retries."""

from __future__ import annotations

import itertools
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tts.testing.gunicorn_server import GunicornServer, ServerError
from tts.testing.load import Result, closed_loop, synthesize
from tts.testing.texts import SENTENCES, chinese_number

_COUNTER = itertools.count()


def text72(n: int) -> str:
    """A distinct ~72-character text (the seed corpus' average): always a cache miss."""
    suffix = f"，这是第{chinese_number(n)}句。"
    body = "，".join(SENTENCES[(n + k) % len(SENTENCES)] for k in range(3))
    return body[: 72 - len(suffix)] + suffix


def next_text() -> str:
    return text72(next(_COUNTER))


def saturate(url: str, clients: int, duration_s: float) -> tuple[list[Result], float]:
    """`clients` threads sending distinct texts back to back for `duration_s`; only the
    requests that finished within it count, and the seconds returned are `duration_s`."""
    return closed_loop(lambda: synthesize(url, next_text()), clients, duration_s,
                       window_only=True)


def warm(url: str, clients: int) -> None:
    """A few requests on every worker's path so first-call costs are not measured."""
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: synthesize(url, next_text()), range(2 * clients)))


def start_server(env: dict[str, str], cwd: Path) -> GunicornServer:
    """Start a server, retrying once: on this shared machine a start-up has been seen
    to receive a SIGTERM from outside (another engineer's tooling)."""
    for attempt in (1, 2):
        server = GunicornServer(env, cwd=cwd)
        try:
            return server.start()
        except ServerError as exc:
            print(f"server start failed (attempt {attempt}): {str(exc).splitlines()[0]}",
                  file=sys.stderr)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
