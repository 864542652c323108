"""gunicorn settings: gevent workers, each loading and warming its own engine after fork.

Run with `gunicorn -c gunicorn.conf.py` (what `make run` does). Values come from
the same validated settings as the app (see `python -m config`).
"""

from __future__ import annotations

import signal
from typing import Any

from config import Settings
from tts.web.logs import configure

settings = Settings.from_env()
configure(settings.log_level)

wsgi_app = "app:create_app()"
bind = f"0.0.0.0:{settings.port}"
workers = settings.workers
worker_class = "gevent"
worker_connections = 1000
# No preload: ONNX Runtime sessions must be created in each worker, after fork.
preload_app = False
# Worker heartbeat: the event loop stays free while synthesis runs on threads.
timeout = 60
graceful_timeout = int(settings.drain_delay_s + settings.request_timeout_s + 5)
keepalive = 5
accesslog = None  # the app writes one JSON line per request itself
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "tts.web.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["stderr"], "level": settings.log_level},
}


def post_worker_init(worker: Any) -> None:
    """On SIGTERM: report not-ready at once, keep serving for DRAIN_DELAY_S, then stop."""
    import gevent

    state = worker.wsgi.extensions["tts"]

    def drain(signum: int, frame: Any) -> None:
        state.draining = True
        worker.log.info("worker %s draining: readyz 503 for %.1f s, then finishing in-flight",
                        worker.pid, settings.drain_delay_s)
        gevent.spawn_later(settings.drain_delay_s, worker.handle_exit, signum, frame)

    signal.signal(signal.SIGTERM, drain)


def worker_exit(server: Any, worker: Any) -> None:
    state = worker.wsgi.extensions.get("tts") if hasattr(worker.wsgi, "extensions") else None
    if state is not None:
        state.close()
