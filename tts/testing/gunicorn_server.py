"""Run the real service under gunicorn (gevent workers) for load and fault tests.

Not a test module: `GunicornServer` starts `gunicorn -c gunicorn.conf.py` from
the repository root as a subprocess in its own process group, bound to a free
port on 127.0.0.1 only (a `-b` on the command line overrides the config's
0.0.0.0), with the given environment overrides. `start` returns once every
worker has logged "worker ready" and `/readyz` answered 200 several times in a
row. stderr (the service's JSON log lines) goes to a temp file so a failing
test can show it.

    with GunicornServer({"WORKERS": "1"}) as server:
        requests.get(server.url + "/healthz")

`ServerFactory` starts servers on demand and stops them all at once (the
`gunicorn_servers` fixture in tests/gunicorn_server.py wraps one). Serves a
checkout: the config file and the app are read from `cwd`, the repository root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from tts.testing.ports import HOST, free_port
from tts.testing.procfs import children_of

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
READY_LINE = '"msg": "worker ready'


class ServerError(RuntimeError):
    """gunicorn did not come up (or went away); the message ends with its stderr."""


class GunicornServer:
    """One gunicorn master and its workers on 127.0.0.1; a context manager."""

    def __init__(self, env: Mapping[str, str] | None = None, *,
                 ready_timeout_s: float = 60.0, ready_streak: int = 5,
                 cwd: Path = REPO) -> None:
        self.overrides = dict(env or {})
        self.cwd = cwd  # a checkout to serve (e.g. a clean export of a commit for benchmarks)
        self.workers = int(self.overrides.get("WORKERS", os.environ.get("WORKERS") or 2))
        self.ready_timeout_s = ready_timeout_s
        self.ready_streak = ready_streak
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        # --no-control-socket: gunicorn >= 25 otherwise shares ~/.gunicorn/gunicorn.ctl with
        # every other gunicorn this user runs (other engineers' servers and tests).
        self.command = [str(GUNICORN), "-c", "gunicorn.conf.py", "-b", f"{HOST}:{self.port}",
                        "--no-control-socket"]
        self._stderr: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop)
            prefix="gunicorn-", suffix=".log", delete=False)
        self.stderr_path = Path(self._stderr.name)
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------- lifecycle

    def start(self) -> GunicornServer:
        # Socket.IO's elected-worker port is off unless a test asks for one, so that
        # servers started by different tests never compete for the default port.
        env = {**os.environ, "LOG_LEVEL": "INFO", "SOCKETIO_PORT": "0", **self.overrides,
               "PORT": str(self.port)}
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=self._stderr, stderr=self._stderr, start_new_session=True,
        )
        try:
            self.wait_ready(self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError("not started")
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def ready_lines(self) -> int:
        """How many times a worker has logged that its engine is warm."""
        return self.stderr_text().count(READY_LINE)

    def wait_ready(self, ready_lines: int, timeout_s: float | None = None) -> float:
        """Wait until `ready_lines` workers said ready and /readyz is 200 `ready_streak`
        times in a row on fresh connections; returns the seconds it took."""
        started = time.monotonic()
        limit = started + (self.ready_timeout_s if timeout_s is None else timeout_s)
        streak = 0
        while time.monotonic() < limit:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(f"gunicorn exited with {self.process.returncode}"
                                  + self.stderr_tail())
            if self.ready_lines() >= ready_lines and len(self.worker_pids()) >= self.workers:
                try:
                    ok = requests.get(self.url + "/readyz", timeout=2).status_code == 200
                except requests.RequestException:
                    ok = False
                streak = streak + 1 if ok else 0
                if streak >= self.ready_streak:
                    return time.monotonic() - started
            time.sleep(0.05)
        raise ServerError(f"not ready within {time.monotonic() - started:.0f} s"
                          + self.stderr_tail())

    def terminate(self) -> None:
        """SIGTERM to the master: graceful shutdown (workers drain, then finish)."""
        os.kill(self.pid, signal.SIGTERM)

    def kill_worker(self) -> int:
        """SIGKILL one worker; gunicorn should fork a replacement. Returns the victim."""
        workers = self.worker_pids()
        if not workers:
            raise ServerError("no worker to kill" + self.stderr_tail())
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def wait(self, timeout_s: float) -> int:
        """The master's exit status once it exits (raises subprocess.TimeoutExpired)."""
        if self.process is None:
            raise ServerError("not started")
        return self.process.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop gracefully, then kill the whole process group if it lingers."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout_s)
        if process is not None:
            # Workers orphaned by a killed master stay in the group: take them too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------- debugging

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stderr_tail(self, lines: int = 40) -> str:
        tail = self.stderr_text().splitlines()[-lines:]
        return f"\n--- gunicorn stderr ({self.stderr_path}) ---\n" + "\n".join(tail)


class ServerFactory:
    """Starts servers on demand; `close` stops them all (what the fixture does)."""

    def __init__(self) -> None:
        self.servers: list[GunicornServer] = []

    def __call__(self, env: Mapping[str, str] | None = None, *,
                 ready_timeout_s: float = 60.0) -> GunicornServer:
        server = GunicornServer(env, ready_timeout_s=ready_timeout_s)
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        """Stop every server; their stderr files stay in the temp dir for a post-mortem."""
        for server in self.servers:
            server.stop()

