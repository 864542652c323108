"""Structured logs: one JSON object per line, one line per request.

Handlers are configured only by entry points (`gunicorn.conf.py`, the CLI),
never on import. Request lines carry sizes and timings, never the text itself.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

REQUEST_LOGGER = logging.getLogger("tts.request")


class JsonFormatter(logging.Formatter):
    """Render a record as JSON; `extra={"fields": {...}}` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines."""
    # The JSON lines carry no thread or process fields: don't collect them per record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_request(**fields: Any) -> None:
    REQUEST_LOGGER.info("request", extra={"fields": fields})

