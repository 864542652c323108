"""Socket.IO streaming: `synthesize` in, `audio_chunk` ... `end_of_stream` out.

Events: a client emits `synthesize` {text, voice?, emotion?, speed?, format?,
timestamps?}; the server emits `audio_chunk` {seq, chunk} for every piece of the
stream (the same bytes as `POST /api/tts/stream`), with timestamps `alignment`
{units} before the audio chunks those units are in, then `end_of_stream` {chunks,
cache}; or `error` with the service's error envelope. Each event runs in its own greenlet,
so several clients (and several requests of one client) stream at once.

Long-polling, the default first transport of Socket.IO clients, needs every
request of a session to reach the same process. gunicorn cannot route that, so
one worker is elected (it holds a lock file) to serve Socket.IO on its own port,
`SOCKETIO_PORT`; when it dies the lock is free and another worker takes over.
The main port also answers `/socket.io` in every worker, which is enough for
clients that connect with the websocket transport directly, or with WORKERS=1.
"""

from __future__ import annotations

import fcntl
import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from flask_socketio import SocketIO, emit

from tts.errors import BadRequest, TTSError
from tts.pool import gevent_active
from tts.web.context import limits_of, ready_worker, worker_of
from tts.web.error_map import SERVICE_FAILURES, Shape, envelope, to_tts_error
from tts.web.exchange import request_id_from
from tts.web.middleware.auth import check_bearer
from tts.web.requests import parse_speech, take_timestamps
from tts.web.responses import open_stream, open_timed_stream, voices_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_LOGGER = logging.getLogger(__name__)

ELECTION_RETRY_S = 1.0


SOCKETIO_PREFIX = "/socket.io/"


def init_socketio(app: Flask) -> WSGIApplication:
    """One Socket.IO server per app; returns the WSGI app that answers its path.

    flask_socketio installs itself by wrapping `app.wsgi_app`; that wrapper is what
    answers SOCKETIO_PREFIX, and `create_app` mounts it there in its declared stack
    (it replaces `app.wsgi_app` afterwards), so no other path pays for it.
    """
    socketio = SocketIO(app, async_mode="gevent" if gevent_active() else "threading",
                        cors_allowed_origins="*",
                        max_http_buffer_size=app.config["MAX_CONTENT_LENGTH"])
    socketio.on_event("connect", on_connect)
    socketio.on_event("synthesize", on_synthesize)
    return app.wsgi_app


def on_connect(auth: Any = None) -> bool:
    """With API_KEYS set, the handshake needs the key (header, or `auth={"token": key}`)."""
    keys = worker_of().settings.api_key_list
    if not keys:
        return True
    header = request.headers.get("Authorization")
    if header is None and isinstance(auth, dict) and isinstance(auth.get("token"), str):
        header = f"Bearer {auth['token']}"
    try:
        check_bearer(header, keys, "tts")
    except TTSError:
        return False
    return True


def on_synthesize(data: Any) -> None:
    started = time.perf_counter()
    request_id = request_id_from("")  # an event is a request of its own, not its transport's
    try:
        worker = ready_worker()
        if not isinstance(data, dict):
            raise BadRequest("synthesize takes an object: {text, voice?, emotion?, speed?, "
                             "format?, timestamps?}")
        fields, timed = take_timestamps(data)
        speech_request = parse_speech(fields, voices_of(worker), limits_of(worker))
        stream, items = (open_timed_stream if timed else open_stream)(worker, speech_request,
                                                                      started)
    except SERVICE_FAILURES as exc:
        emit("error", envelope(to_tts_error(exc, request_id), request_id, Shape.SOCKETIO))
        return
    server: SocketIO = current_app.extensions["socketio"]
    seq = 0
    with closing(items):  # a failed emit still stops synthesis and frees the slot
        for item in items:
            if isinstance(item, bytes):
                if item:
                    emit("audio_chunk", {"seq": seq, "chunk": item})
                    seq += 1
            elif isinstance(item, list):
                if item:
                    emit("alignment", {"units": item})
            else:
                continue
            server.sleep(0)  # let the transport send it before the next one is queued
    emit("end_of_stream", {"chunks": seq, "cache": stream.cache})


def serve_when_elected(app: Flask, port: int, sleep: Callable[[float], Any]) -> None:
    """Run forever: take the lock file when free, then serve Socket.IO on `port`.

    Called in a greenlet of every gunicorn worker; exactly one of them serves.
    """
    from gevent.pywsgi import WSGIServer

    lock_path = Path(tempfile.gettempdir()) / f"tts-socketio-{port}.lock"
    with lock_path.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sleep(ELECTION_RETRY_S)
                continue
            _LOGGER.info("this worker serves Socket.IO on port %d", port)
            started = time.monotonic()
            try:
                WSGIServer(("0.0.0.0", port), app, log=None).serve_forever()
            except OSError:
                # The port may still be held by a worker that just died; retry.
                _LOGGER.warning("Socket.IO port %d busy after %.1f s; retrying", port,
                                time.monotonic() - started)
                fcntl.flock(lock, fcntl.LOCK_UN)
                sleep(ELECTION_RETRY_S)
