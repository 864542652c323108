"""What every answered request leaves behind: its metrics and its one JSON log line.

One caller, the lifecycle (tts.web.middleware.lifecycle), so every request is counted
and logged alike, whichever layer answered it.
"""

from __future__ import annotations

from flask import Flask

from tts.web.exchange import Exchange
from tts.web.observability import metrics
from tts.web.observability.logs import log_request


def record_request(app: Flask, exchange: Exchange, method: str, path: str,
                   elapsed_s: float) -> None:
    """A request without a route template counts as "unmatched" (any path a caller
    makes up must not become a series); its log line shows the path instead."""
    route = exchange.route
    status = exchange.status
    metrics.observe_request(app, route or "unmatched", method, status, elapsed_s,
                            whole_audio=exchange.whole_audio and status == 200)
    log_request(request_id=exchange.request_id, method=method, route=route or path[:100],
                status=status, ms=round(elapsed_s * 1000, 1), **exchange.log)
