"""gunicorn settings: gevent workers sharing a front end the master built before fork,
each opening and warming its own engine after fork.

Run with `gunicorn -c gunicorn.conf.py` (what `make run` does). Values come from
the same validated settings as the app (see `python -m config`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

# prometheus_client picks multiprocess mode when it is first imported (in each
# worker, after fork): the directory must be in the environment before that.
# A fresh one per master unless the operator names one (emptied at start).
_METRICS_DIR_OWNED = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _METRICS_DIR_OWNED:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tts-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
# The state every worker of this pod shares (tts/pod.py: the degrade mode, rate-limit
# counts), beside it: one per master, so a replaced worker finds the pod's settings.
_POD_DIR_OWNED = not os.environ.get("TTS_POD_DIR")
if _POD_DIR_OWNED:
    os.environ["TTS_POD_DIR"] = tempfile.mkdtemp(prefix="tts-pod-")
POD_DIR = Path(os.environ["TTS_POD_DIR"])

from gunicorn.glogging import Logger  # noqa: E402
from gunicorn.workers.ggevent import GeventWorker  # noqa: E402

from config import Settings  # noqa: E402
from tts.web.observability.logs import configure  # noqa: E402

settings = Settings.from_env()
configure(settings.log_level)

wsgi_app = "app:create_app()"
bind = f"0.0.0.0:{settings.port}"
workers = settings.workers


@contextlib.contextmanager
def entry_points_read_once() -> Iterator[None]:
    """While inside, importlib.metadata.entry_points reads the installed
    distributions once and answers every later query from that reading."""
    real = metadata.entry_points
    everything = real()

    def entry_points(**params: Any) -> Any:  # the types differ across Pythons
        return everything.select(**params) if params else everything

    metadata.entry_points = entry_points
    try:
        yield
    finally:
        metadata.entry_points = real


class QuickPatchGeventWorker(GeventWorker):
    """gunicorn's gevent worker, monkey-patching sooner and starting the engine's load
    before the app is imported. At each of its ~25 steps,
    gevent's patch_all asks importlib.metadata for plugins, and each ask reads every
    installed distribution's entry points again: with a few hundred packages
    installed, a good part of a worker's start (bench/RESULTS.md has the figure)."""

    def patch(self) -> None:
        with entry_points_read_once():
            super().patch()
        # Right after patching, before the app is imported: the engine's sessions build
        # on a native thread meanwhile (create_app picks them up).
        from tts.engines import start_loading_early

        start_loading_early(settings)


worker_class = QuickPatchGeventWorker
worker_connections = 1000
# No preloaded app: ONNX Runtime sessions must be created in each worker, after fork
# (and the app's metrics must be registered there, see above). What is read-only and
# slow to build, the front end, is preloaded by `when_ready` instead.
preload_app = False
# Worker heartbeat: the event loop stays free while synthesis runs on threads.
timeout = 60
graceful_timeout = int(settings.drain_delay_s + settings.request_timeout_s + 5)
keepalive = 5
# Replace a worker after about this many requests, against slow leaks. The jitter keeps
# the workers from being replaced together, and a replacement takes no connection
# before it is warm (post_worker_init), so a replacement costs no request.
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter
accesslog = None  # the app writes one JSON line per request itself


class ErrorLogOnly(Logger):
    """gunicorn's logger without the access log. With `logconfig_dict` set, gunicorn
    builds every request's access-log fields and then drops them (no handler): about
    4% of a cached hit's time."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


logger_class = ErrorLogOnly
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "tts.web.observability.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["stderr"], "level": settings.log_level},
}


def keep_large_buffers_on_mmap(threshold: int = 256 * 1024) -> None:
    """Audio buffers of hundreds of KB come and go with every request. glibc first
    serves them with mmap, then raises its threshold after the first frees and serves
    them from the heap, where they fragment it and resident memory creeps up. A fixed
    threshold keeps them on mmap, returned to the system when freed. glibc only."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library: its own policy applies
        return
    m_mmap_threshold = -3  # mallopt parameter number in glibc's malloc.h
    libc.mallopt(m_mmap_threshold, threshold)


def post_worker_init(worker: Any) -> None:
    """Per worker: large buffers on mmap, freeze the warm heap; on SIGTERM report
    not-ready at once, keep serving for DRAIN_DELAY_S, then stop; return (and so start
    accepting connections) only once the engine is warm."""
    import gevent

    keep_large_buffers_on_mmap()
    state = worker.wsgi.extensions["tts"]

    def freeze_heap() -> None:
        # Some 300,000 long-lived objects (the front end's dictionaries, the models'
        # Python objects) leave the cyclic collector's sight: a full collection over
        # them took about 50 ms and stalled every request of the worker at once.
        gc.collect()
        gc.freeze()
        worker.log.info("heap frozen after warm-up: %d objects", gc.get_freeze_count())

    state.when_ready(freeze_heap)  # once the engine is warm

    def drain(signum: int, frame: Any) -> None:
        state.draining = True
        worker.log.info("worker %s draining: readyz 503 for %.1f s, then finishing in-flight",
                        worker.pid, settings.drain_delay_s)
        gevent.spawn_later(settings.drain_delay_s, worker.handle_exit, signum, frame)

    signal.signal(signal.SIGTERM, drain)
    if settings.socketio_port:
        from tts.web.routes.socketio import serve_when_elected

        gevent.spawn(serve_when_elected, worker.wsgi, settings.socketio_port, gevent.sleep)
    # Take no connection before the engine is warm: until run() starts accepting, new
    # connections wait in the listen socket all workers share, where a warm worker takes
    # them. So start-up, a crash and a recycle cost no request while another worker is
    # ready, and every /readyz that answers speaks for the worker that would serve. The
    # master's heartbeat goes on meanwhile; a failed load still starts the loop, so
    # /readyz can report the error.
    while worker.alive and state.error is None and not state.wait_ready(1.0):
        worker.notify()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Let the worker's other connections run before this one reads its next request:
    otherwise a keep-alive client can be served again and again while others wait."""
    import gevent

    gevent.sleep(0)


def worker_exit(server: Any, worker: Any) -> None:
    state = worker.wsgi.extensions.get("tts") if hasattr(worker.wsgi, "extensions") else None
    if state is not None:
        state.close()


# Libraries every worker imports anyway: imported once in the master, they are shared
# and each worker starts that much sooner. Only libraries that start no thread and bind
# no ssl names at import belong here: not onnxruntime (its import starts a native
# thread, which must not exist at fork), nor redis, requests or socketio (gevent cannot
# patch the ssl names they bind), nor the app's own modules (their metrics belong to
# each worker's process).
SHARED_IMPORTS = ("flask", "av", "pylibrb")


def when_ready(server: Any) -> None:
    """In the master, once it listens and before it forks: build the front end that
    every worker (and every replacement) will share copy-on-write. If it fails, the
    workers build their own and report what is wrong through /readyz."""
    started = time.perf_counter()
    # Importing and building make some million objects: the collector would scan them
    # again and again for nothing (preload collects and freezes once at its end).
    gc.disable()
    try:
        for name in SHARED_IMPORTS:
            importlib.import_module(name)
        from tts.preload import preload

        preload(settings)
    except Exception:
        server.log.exception("front end not preloaded: each worker builds its own")
        return
    finally:
        gc.enable()
    server.log.info("front end preloaded in the master in %.2f s (%d objects frozen)",
                    time.perf_counter() - started, gc.get_freeze_count())


def on_reload(server: Any) -> None:
    """SIGHUP re-read the settings: workers forked from now on get a front end built
    for them (a worker whose settings differ from the preloaded ones builds its own)."""
    when_ready(server)


def on_starting(server: Any) -> None:
    """Values left by an earlier master in an operator-named directory are not ours."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (queue depth, in-flight, device) from /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _METRICS_DIR_OWNED:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
    if _POD_DIR_OWNED:
        shutil.rmtree(POD_DIR, ignore_errors=True)
