"""Socket.IO through real gunicorn workers with the python-socketio client."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import socketio

from tts.testing.gunicorn_server import GunicornServer, ServerFactory
from tts.testing.ports import HOST, free_port

TEXT = "人工智能技术正在快速发展，语音合成已经广泛应用于导航和客服。"


class Listener:
    """Collects the events of one synthesize call."""

    def __init__(self, client: socketio.Client) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.order: list[tuple[str, Any]] = []  # audio_chunk and alignment, as they came
        self.end: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.done = threading.Event()
        client.on("audio_chunk", self._chunk)
        client.on("alignment", lambda data: self.order.append(("alignment", data["units"])))
        client.on("end_of_stream", self._end)
        client.on("error", self._error)

    def _chunk(self, data: dict[str, Any]) -> None:
        self.chunks.append(data)
        self.order.append(("audio", data["chunk"]))

    def _end(self, data: dict[str, Any]) -> None:
        self.end = data
        self.done.set()

    def _error(self, data: dict[str, Any]) -> None:
        self.error = data
        self.done.set()

    def audio(self) -> bytes:
        assert [c["seq"] for c in self.chunks] == list(range(len(self.chunks)))
        return b"".join(c["chunk"] for c in self.chunks)


def synthesize(url: str, payload: dict[str, Any], **connect: Any) -> Listener:
    client = socketio.Client()
    listener = Listener(client)
    client.connect(url, wait_timeout=10, **connect)
    try:
        client.emit("synthesize", payload)
        assert listener.done.wait(60), "no end_of_stream or error within 60 s"
    finally:
        client.disconnect()
    return listener


@pytest.fixture()
def server(gunicorn_servers: ServerFactory) -> GunicornServer:
    port = free_port()
    started = gunicorn_servers({"WORKERS": "2", "SOCKETIO_PORT": str(port)})
    started.socketio_url = f"http://{HOST}:{port}"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the elected worker opens its port
        try:
            requests.get(started.socketio_url + "/healthz", timeout=1)  # type: ignore[attr-defined]
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    return started


def test_default_client_streams_the_same_audio_as_http(server: GunicornServer) -> None:
    url: str = server.socketio_url  # type: ignore[attr-defined]
    listener = synthesize(url, {"text": TEXT, "format": "pcm"})
    assert listener.error is None and listener.end is not None
    assert listener.end["chunks"] == len(listener.chunks) > 1
    over_http = requests.post(url + "/api/tts", json={"text": TEXT, "format": "pcm"}, timeout=60)
    assert over_http.headers["X-Cache"] == "hit-memory"  # stored when the stream finished
    assert listener.audio() == over_http.content


def test_alignment_events_come_before_the_audio_they_describe(server: GunicornServer) -> None:
    url: str = server.socketio_url  # type: ignore[attr-defined]
    listener = synthesize(url, {"text": TEXT, "format": "pcm", "timestamps": True})
    assert listener.error is None and listener.end is not None
    sent_s = 0.0
    units: list[dict[str, Any]] = []
    for kind, data in listener.order:
        if kind == "audio":
            sent_s += len(data) / 2 / 24000
        else:
            assert all(u["start"] >= sent_s - 1e-3 for u in data), "its audio went first"
            units.extend(data)
    assert len(units) >= len(TEXT) - 4  # one per Han character but the punctuation
    whole = requests.post(url + "/api/tts", json={"text": TEXT, "format": "pcm",
                                                  "timestamps": True}, timeout=60).json()
    assert [u["text"] for u in units] == [u["text"] for u in whole["alignment"]]


def test_long_polling_session_stays_on_one_worker(server: GunicornServer) -> None:
    url: str = server.socketio_url  # type: ignore[attr-defined]
    for n in "一二三":
        listener = synthesize(url, {"text": f"第{n}次长轮询请求。"}, transports=["polling"])
        assert listener.error is None and listener.end is not None
        assert listener.audio()[:4] == b"RIFF"


def test_websocket_clients_on_the_main_port(server: GunicornServer) -> None:
    listener = synthesize(server.url, {"text": "主端口上的网络套接字。", "format": "mp3"},
                          transports=["websocket"])
    assert listener.error is None and len(listener.audio()) > 1000


def test_several_clients_at_once(server: GunicornServer) -> None:
    url: str = server.socketio_url  # type: ignore[attr-defined]
    results: dict[int, Listener] = {}

    def one(n: int) -> None:
        results[n] = synthesize(url, {"text": f"同时连接的第{'一二三四'[n]}个客户端。"})

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r.error is None and r.end is not None for r in results.values())
    assert len({r.audio() for r in results.values()}) == 4


def test_bad_input_gets_an_error_event(server: GunicornServer) -> None:
    url: str = server.socketio_url  # type: ignore[attr-defined]
    listener = synthesize(url, {"text": "你好", "speed": 7})
    assert listener.error is not None and not listener.chunks
    assert listener.error["error"]["code"] == "bad_request"
    assert len(listener.error["error"]["request_id"]) == 32  # one of its own per event
    assert "speed" in listener.error["error"]["message"]
    listener = synthesize(url, "not an object")  # type: ignore[arg-type]
    assert listener.error is not None and listener.error["error"]["status"] == 400


def test_api_keys_guard_the_handshake(gunicorn_servers: ServerFactory) -> None:
    started = gunicorn_servers({"WORKERS": "1", "API_KEYS": "k-one,k-two"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client().connect(started.url, transports=["websocket"], wait_timeout=5)
    listener = synthesize(started.url, {"text": "带钥匙的连接。"}, transports=["websocket"],
                          auth={"token": "k-two"})
    assert listener.error is None and listener.end is not None
