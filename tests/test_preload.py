"""The front end built once in the gunicorn master and shared by its workers.

In process: a worker takes the preloaded front end when it was built for its settings
and its engine's tables, and builds its own otherwise (or when there is no master).
Under real gunicorn: the master preloads, no worker builds a front end of its own,
the workers map the master's pages (shared, not copied) and the same saved graph
weights (tts.engines.graph_cache), and a SIGKILLed worker's
replacement gets the same front end, becomes ready and serves. How fast and how
small is measured by bench/memory.py, not asserted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from config import Settings
from tests.conftest import make_settings
from tts import preload, worker
from tts.engines.graph_cache import WEIGHTS
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend
from tts.testing.gunicorn_server import ServerFactory
from tts.testing.procfs import Memory
from tts.testing.texts import distinct_text
from tts.worker import Worker

PRELOADED_LINE = "front end preloaded in the master"
MIB = 2**20


def mapped_weights(pid: int) -> frozenset[str]:
    """The graph-cache weight files a process has memory-mapped."""
    return frozenset(line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text()
                     .splitlines() if line.endswith("/" + WEIGHTS))


def load_with(monkeypatch: pytest.MonkeyPatch, engine: OnnxEngine, settings: Settings,
              preloaded: preload.Preloaded | None) -> tuple[Worker, Frontend, list[Settings]]:
    """Run a worker's load step on the shared test engine; returns the worker, its
    front end and the settings of every front end it built itself."""
    built: list[Settings] = []

    def build(settings: Settings, tables: preload.Tables) -> Frontend:
        built.append(settings)
        return Frontend(*tables)

    monkeypatch.setattr(preload, "_PRELOADED", preloaded)
    monkeypatch.setattr(preload, "build_frontend", build)
    monkeypatch.setattr(worker, "load_engine", lambda _settings: engine)
    loading = Worker(settings)
    try:
        _, frontend, warm_s = loading._load_engine()
    finally:
        loading.close()
    assert warm_s > 0
    return loading, frontend, built


def test_worker_takes_the_front_end_built_for_it(
        monkeypatch: pytest.MonkeyPatch, engine: OnnxEngine, voice_dir: Path,
        voice_frontend: Frontend) -> None:
    settings = make_settings(voice_dir)
    master = preload.Preloaded(settings, engine.symbol_tables(), voice_frontend)
    loaded, frontend, built = load_with(monkeypatch, engine, settings, master)
    assert frontend is voice_frontend and not built
    assert loaded.frontend_from == "the master's"


@pytest.mark.parametrize("preloaded", ["none", "other settings", "other tables"])
def test_worker_builds_its_own_front_end_otherwise(
        monkeypatch: pytest.MonkeyPatch, engine: OnnxEngine, voice_dir: Path,
        voice_frontend: Frontend, preloaded: str) -> None:
    settings = make_settings(voice_dir)
    symbol_to_id, pinyin_dict = engine.symbol_tables()
    master = {
        "none": None,
        "other settings": preload.Preloaded(make_settings(voice_dir, max_piece_syllables=7),
                                            (symbol_to_id, pinyin_dict), voice_frontend),
        "other tables": preload.Preloaded(settings, ({**symbol_to_id, "extra": 999},
                                                     pinyin_dict), voice_frontend),
    }[preloaded]
    loaded, frontend, built = load_with(monkeypatch, engine, settings, master)
    assert frontend is not voice_frontend and built == [settings]
    assert loaded.frontend_from == "its own"


def test_workers_share_the_masters_front_end_and_replacements_too(
        gunicorn_servers: ServerFactory) -> None:
    server = gunicorn_servers({"WORKERS": "2"})
    log = server.stderr_text()
    assert log.count(PRELOADED_LINE) == 1, server.stderr_tail()
    ready = re.findall(r"worker ready: .*front end: ([^\"]*)\"", log)
    assert ready == ["the master's"] * 2, server.stderr_tail()
    for pid in server.worker_pids():
        # The front end's pages are mapped by master and worker alike: hundreds of
        # thousands of objects, well over 100 MiB, that a worker does not hold alone.
        memory = Memory.of(pid)
        assert memory.rss - memory.uss > 100 * MIB, (pid, memory)
    # The graphs' weights are mapped from tts.engines.graph_cache's files, the same
    # files in both workers (not private copies).
    assert len({mapped_weights(pid) for pid in server.worker_pids()}) == 1
    assert len(mapped_weights(server.worker_pids()[0])) == 2

    victim = server.kill_worker()
    server.wait_ready(ready_lines=3, timeout_s=60)
    assert victim not in server.worker_pids()
    log = server.stderr_text()
    assert re.findall(r"worker ready: .*front end: ([^\"]*)\"", log) == ["the master's"] * 3
    assert log.count(PRELOADED_LINE) == 1  # not built again for the replacement
    for n in range(4):  # fresh connections: both workers, the new one among them, answer
        response = requests.post(server.url + "/api/tts",
                                 json={"text": distinct_text(n, tag="预载")}, timeout=30)
        assert response.status_code == 200, response.text[:300]
