"""The processes a benchmark compares against the service: the seed-style baseline and
a bare Flask app under the service's gunicorn settings. Both bind 127.0.0.1 only, run
in their own process group and keep their stderr in a temp file.

The service itself runs through tests/gunicorn_server.py's `GunicornServer`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from bench.load import ROOT
from tts.testing.load import http_ok, synthesize
from tts.testing.ports import HOST, free_port

PYTHON = Path(sys.executable)
GUNICORN = PYTHON.parent / "gunicorn"


class Process:
    """One command on a free loopback port; `start` returns once `ready()` is true."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = {**os.environ, **(env or {})}
        self._log: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop)
            prefix="bench-", suffix=".log", delete=False)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def ready(self) -> bool:
        return http_ok(self.url + "/healthz", timeout=1)

    def start(self, timeout_s: float = 120.0) -> float:
        """Start and wait until ready; the seconds from spawn to ready."""
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=self._log, start_new_session=True)
        while time.monotonic() - self.started_at < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log_tail()}")
            if self.ready():
                return time.monotonic() - self.started_at
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.command} not ready in {timeout_s} s: {self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if not self._log.closed:
            self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Process:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SeedServer(Process):
    """bench/seed_baseline.py: Flask dev server, engine loaded by the first request.

    Ready means it can speak: the first synthesis (which loads the model) answered.
    """

    def __init__(self, voice_dir: Path) -> None:
        super().__init__([str(PYTHON), "-m", "bench.seed_baseline", "--port", "{port}",
                          "--voice", str(voice_dir)])

    def ready(self) -> bool:
        return synthesize(self.url, "你好。").status == 200 if super().ready() else False


class BareServer(Process):
    """bench/bare_app.py under gunicorn with the service's worker settings (and not the
    service's gunicorn.conf.py, which gunicorn would otherwise read from the cwd)."""

    def __init__(self, data_file: Path, workers: int) -> None:
        super().__init__([str(GUNICORN), "-c", "/dev/null", "-k", "gevent", "-w", str(workers),
                          "--worker-connections", "1000", "--keep-alive", "5",
                          "--no-control-socket", "-b", f"{HOST}:{{port}}",
                          "bench.bare_app:create_app()"],
                         env={"BARE_BYTES_FILE": str(data_file)})
