"""Everything one worker process holds, built from the settings in order.

    settings -> voice -> engine (loaded, warmed) -> front end -> inference pool
             -> synthesizer -> cache (memory, optional Redis) -> speech service

Loading and warm-up run on the inference pool's thread, so the worker answers
`/healthz` (and `/readyz` with 503) while it gets ready; `ready` flips once the
engine is warm. `draining` flips when the worker is told to stop.

Under gunicorn the master builds the front end before it forks (`tts.preload`):
a worker (or the replacement of a crashed one) shares it and only opens and warms
its ONNX Runtime sessions, which must be created after fork. Without a master
(tests, `create_app` in a process of its own) a worker builds its own front end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cache import AudioCache, MemoryTier, RedisTier
from config import Settings
from tts import preload
from tts.engines import load_engine, take_early
from tts.engines.base import Engine
from tts.engines.degrade import with_cpu_path
from tts.frontend import Frontend
from tts.pool import InferencePool, NativeCall
from tts.service import SpeechRequest, SpeechService
from tts.synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 600.0


class Worker:
    """One per worker process; lives in `app.extensions["tts"]`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = InferencePool(settings.inference_threads, settings.queue_size,
                                  settings.queue_wait_s)
        self.cache = build_cache(settings)
        self.engine: Engine | None = None
        self.service: SpeechService | None = None
        self.warm_up_s: float | None = None
        self.error: str | None = None
        self.draining = False
        # "the master's" when the front end came from gunicorn's master (tts.preload),
        # "its own" when this worker had to build it.
        self.frontend_from = ""
        self._on_ready: list[Callable[[], None]] = []
        self._ready = threading.Event()
        self._ready_lock = threading.Lock()

    @property
    def warm(self) -> bool:
        """The engine is loaded and warm: requests that reach the worker are served."""
        return self._ready.is_set()

    @property
    def ready(self) -> bool:
        """Warm and not draining: what /readyz reports, so new traffic goes elsewhere."""
        return self._ready.is_set() and not self.draining

    def start(self) -> None:
        """Load and warm the engine in the background; `wait_ready` waits for it."""
        threading.Thread(target=self._load, name="engine-load", daemon=True).start()

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def when_ready(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the engine is warm: at once if it already is."""
        with self._ready_lock:
            if not self._ready.is_set():
                self._on_ready.append(hook)
                return
        hook()

    def _load(self) -> None:
        try:
            engine, frontend, warm_s = self.pool.run(self._load_engine, LOAD_TIMEOUT_S)
        except Exception as exc:  # start-up failure: reported by /readyz and the log
            self.error = f"{type(exc).__name__}: {exc}"
            _LOGGER.exception("engine failed to load")
            return
        synthesizer = Synthesizer(frontend, engine, self.pool, self.settings.request_timeout_s)
        self.engine, self.warm_up_s = engine, warm_s
        self.service = SpeechService(synthesizer, self.cache)
        with self._ready_lock:
            self._ready.set()
            hooks, self._on_ready = self._on_ready, []
        for hook in hooks:
            hook()
        _LOGGER.info("worker ready: engine %s on %s, warm-up %.2f s, front end: %s",
                     engine.name, engine.device, warm_s, self.frontend_from)
        if self.settings.cache_warm_file is not None:
            self._warm_cache(self.settings.cache_warm_file)

    def _load_engine(self) -> tuple[Engine, Frontend, float]:
        # Where an accelerator runs, a warmed CPU twin stands beside it (degrade to CPU).
        engine = take_early(self.settings) or load_engine(self.settings)
        engine = with_cpu_path(engine, self.settings, load_engine, lambda: self.pool.last_wait_s)
        tables = engine.symbol_tables()
        preloaded = preload.preloaded()
        if preloaded is not None and preloaded.fits(self.settings, tables):
            frontend, self.frontend_from = preloaded.frontend, "the master's"
            warm_s = engine.warm_up()
        else:
            if preloaded is not None:
                _LOGGER.warning("the master's front end was built for other settings: "
                                "this worker builds its own")
            # Warm-up runs in ONNX Runtime, mostly without the GIL: it overlaps the front
            # end's dictionary loading (jieba, wetext), which is pure Python.
            warm_up = NativeCall(engine.warm_up)
            frontend, self.frontend_from = preload.build_frontend(self.settings, tables), "its own"
            warm_s = warm_up.result()
        # Building the graphs leaves tens of MiB of freed heap in glibc's arenas that it
        # would otherwise keep for good: hand it back before the first request.
        preload.release_free_heap()
        return engine, frontend, warm_s

    def _warm_cache(self, path: Path) -> None:
        """Synthesize fixed phrases into the cache after the worker is already ready."""
        assert self.service is not None and self.engine is not None
        started, done = time.monotonic(), 0
        voice = self.engine.voices()[0].name
        for line in path.read_text(encoding="utf-8").splitlines():
            phrase = line.strip()
            if not phrase or phrase.startswith("#"):
                continue
            try:
                self.service.speak(SpeechRequest(text=phrase, voice=voice,
                                                 sample_rate=self.engine.sample_rate))
                done += 1
            except Exception:
                _LOGGER.warning("warm list: could not synthesize line %r", phrase[:40],
                                exc_info=True)
        _LOGGER.info("warm list: %d phrases cached in %.1f s", done, time.monotonic() - started)

    def close(self) -> None:
        self.pool.shutdown()
        self.cache.close()


def build_cache(settings: Settings) -> AudioCache:
    redis = None
    if settings.redis_url:
        redis = RedisTier(settings.redis_url, ttl_s=settings.cache_ttl,
                          socket_timeout_s=settings.redis_timeout_s)
    return AudioCache(MemoryTier(settings.cache_memory_bytes), redis,
                      lock_wait_s=settings.request_timeout_s)
