"""What every answered request leaves behind: its metrics and its one JSON log line.

Two callers, so both kinds of answer are counted and logged alike: app.py's
after-request hook (everything Flask serves) and tts/web/hits.py (repeats answered
from tier 1 before Flask).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from tts.web import metrics
from tts.web.logs import log_request


def record_request(app: Flask, *, request_id: str, method: str, route: str | None, path: str,
                   status: int, elapsed_s: float, whole_audio: bool,
                   fields: dict[str, Any]) -> None:
    """`route` is the matched route template ("/api/tts"), None when nothing matched:
    metrics then say "unmatched" (any path a caller makes up must not become a
    series) and the log line shows the path. `fields` are the route's own log fields
    (sizes and timings, never the text)."""
    metrics.observe_request(app, route or "unmatched", method, status, elapsed_s,
                            whole_audio=whole_audio)
    log_request(request_id=request_id, method=method, route=route or path[:100],
                status=status, ms=round(elapsed_s * 1000, 1), **fields)
