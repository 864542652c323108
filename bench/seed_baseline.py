"""The seed system's starting point, rebuilt for side-by-side benchmarks.

What the seed article started from: the Flask development server (`app.run`,
threaded), the model loaded at first use, synthesis per request, no cache, no
warm-up, no concurrency control, and the voice as converted (no graph tuning:
`python -m tts.voices --no-optimize --dir /tmp/voice-raw`). It reuses the service's
text front end, engine and encoder so the comparison isolates what the service adds
(gunicorn + gevent, inference threads, warm-up, cache, tuned graphs), and none of its
cache, pool or worker code.

    .venv/bin/python -m bench.seed_baseline --port 7870 [--voice /tmp/voice-raw]

Routes: POST /api/tts (JSON {text}) -> audio/wav, and GET /healthz. Loopback only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from flask import Flask, Response, jsonify, request

from tts.audio import encode, join
from tts.emotions import Prosody
from tts.engines.onnx_engine import OnnxEngine
from tts.frontend import Frontend, NothingToSay

RAW_VOICE = Path("/tmp/voice-raw")  # the voice as converted; bench/__main__.py builds it
HOST = "127.0.0.1"


class LazyEngine:
    """The engine and front end, loaded by the first request that needs them."""

    def __init__(self, voice_dir: Path, threads: int) -> None:
        self.voice_dir = voice_dir
        self.threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[OnnxEngine, Frontend] | None = None

    def get(self) -> tuple[OnnxEngine, Frontend]:
        with self._lock:  # only so two first requests do not both load it
            if self._loaded is None:
                engine = OnnxEngine.load(self.voice_dir, device="cpu", threads=self.threads)
                self._loaded = engine, Frontend(*engine.symbol_tables())
            return self._loaded


def create_app(voice_dir: Path = RAW_VOICE, threads: int = 2) -> Flask:
    app = Flask(__name__)
    lazy = LazyEngine(voice_dir, threads)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/api/tts")
    def tts() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        text = str(body.get("text", "")).strip()
        if not text:
            return jsonify({"error": "text is required"}), 400
        engine, frontend = lazy.get()
        try:
            sentences = frontend.analyze(text)
        except NothingToSay:
            return jsonify({"error": "nothing to say"}), 422
        pieces: list[np.ndarray] = [engine.vocode(engine.mel(s.ids, Prosody())[0])
                                    for s in sentences]
        audio = join(pieces, [s.pause_s for s in sentences], engine.sample_rate)
        return Response(encode(audio, engine.sample_rate, "wav"), mimetype="audio/wav")

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--voice", type=Path, default=RAW_VOICE)
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads")
    args = parser.parse_args(argv)
    if not (args.voice / "voice.json").exists():
        parser.error(f"no voice at {args.voice}: run .venv/bin/python -m tts.voices "
                     f"--no-optimize --dir {args.voice}")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    create_app(args.voice, args.threads).run(HOST, args.port, threaded=True, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
