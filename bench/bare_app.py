"""A bare Flask app returning fixed audio bytes: the ceiling for cached requests.

Served by `python -m bench` under gunicorn with the service's settings (gevent worker
class, same worker count, connections and keep-alive) so that the service's cache hits
can be reported as a share of what Flask + gunicorn alone can do on this machine.
`BARE_BYTES_FILE` names the file whose bytes `POST /api/tts` returns.

    gunicorn -k gevent -w 2 -b 127.0.0.1:PORT 'bench.bare_app:create_app()'
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response


def create_app(path: str | None = None) -> Flask:
    data = Path(path or os.environ["BARE_BYTES_FILE"]).read_bytes()
    app = Flask(__name__)

    @app.post("/api/tts")
    def tts() -> Response:
        return Response(data, mimetype="audio/wav")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    return app
