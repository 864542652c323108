"""What the gunicorn master builds before it forks, for every worker to share.

The front end (about 180 MiB of dictionaries, grammars and rule tables, read-only
once built) takes a second or more to build. Built once in the master, its pages are
shared copy-on-write by every worker, and a worker started later (the replacement of
a crashed one) gets it for free. ONNX Runtime sessions are not built here: they must
be created in each worker, after fork.

Kept apart from tts.worker so that the master imports only what the front end needs
(not Redis, Flask or the app's metrics, which belong in the workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from dataclasses import dataclass

from config import Settings
from tts.engines import embedded_voice_tables
from tts.frontend import Frontend, load_lexicon

Tables = tuple[dict[str, int], dict[str, list[str]]]

# Text whose analysis takes the front end through its first-call paths (wetext's
# grammar on digits, the segmenter, the rule tables, sandhi), so that they are paid
# for once in the master rather than by every worker's first request.
_WARM_TEXT = "今天是2024年3月5日，气温-3.5℃，我们一起去公园散步吧！"


def build_frontend(settings: Settings, tables: Tables) -> Frontend:
    """The front end for these settings and the voice's symbol tables."""
    lexicon = load_lexicon(settings.lexicon_file) if settings.lexicon_file else None
    return Frontend(*tables, lexicon=lexicon,
                    max_syllables=settings.max_piece_syllables,
                    yao_for_one=settings.yao_for_one, segmenter_dir=settings.segmenter_dir)


@dataclass(frozen=True)
class Preloaded:
    """A front end built in the master, and what it was built from."""

    settings: Settings
    tables: Tables
    frontend: Frontend

    def fits(self, settings: Settings, tables: Tables) -> bool:
        """Built from the worker's settings and its engine's symbol tables: a worker
        whose settings differ (another environment) must build its own."""
        return settings == self.settings and tables == self.tables


_PRELOADED: Preloaded | None = None


def preloaded() -> Preloaded | None:
    """The front end the master built before forking this process, if it did."""
    return _PRELOADED


def preload(settings: Settings) -> Preloaded:
    """Build the front end in the master, before it forks workers.

    The collector is kept out of the build (its hundreds of thousands of new objects
    would make it scan again and again) and the result is frozen, so that no worker's
    collection writes to the shared pages (and so copies them). Nothing here starts a
    thread or leaves a lock held: the gevent worker monkey-patches after fork.
    """
    global _PRELOADED
    enabled = gc.isenabled()
    gc.disable()
    try:
        tables = embedded_voice_tables(settings.tts_voice_dir)
        frontend = build_frontend(settings, tables)
        frontend.analyze(_WARM_TEXT)
    finally:
        if enabled:
            gc.enable()
    gc.collect()
    gc.freeze()
    release_free_heap()
    _PRELOADED = Preloaded(settings, tables, frontend)
    return _PRELOADED


def release_free_heap() -> None:
    """Hand glibc's free heap pages back to the system. Building the front end or the
    ONNX Runtime graphs frees tens of MiB that glibc would otherwise keep for good (a
    forked worker would inherit them too). glibc only."""
    # On another C library (no malloc_trim) its own policy applies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
