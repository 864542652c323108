"""Closed-loop clients that resend a refused request at once, on keep-alive connections.

A storm of refusals runs to hundreds of requests a second. Python threads opening a
new connection per request (tts/testing/load.py's clients) then cost the 2 cores more
than the service spends answering, and the figures measure the load generator. Here
every client holds one connection, as an HTTP client library would, and all of them
share one asyncio loop, so a request costs the client side tens of microseconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

from tts.testing.corpus_texts import Texts
from tts.testing.load import TIMEOUT_S, Result


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
    if "content-length" in fields:
        return await reader.readexactly(int(fields["content-length"]))
    chunks = []  # chunked transfer coding: size line, data, CRLF; a 0 size ends it
    while size := int((await reader.readline()).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readline()
    await reader.readline()
    return b"".join(chunks)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, dict[str, str], bytes]:
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), fields, await _read_body(reader, fields)


async def _client(host: str, port: int, texts: Texts, deadline: float,
                  results: list[Result]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    text = None
    try:
        while time.monotonic() < deadline:
            text = text or texts.next()
            body = json.dumps({"text": text}).encode()
            request = (b"POST /api/tts HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json"
                       b"\r\nContent-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
            started, t0 = time.monotonic(), time.perf_counter()
            status, fields, data = await asyncio.wait_for(
                _exchange(reader, writer, request), TIMEOUT_S)
            seconds = time.perf_counter() - t0
            if time.monotonic() >= deadline:
                return  # finished after the window: not counted
            results.append(Result(status, seconds, fields.get("retry-after"),
                                  fields.get("x-cache"), len(data), started=started))
            if status == 200:
                text = None
            if fields.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def retrying_storm(url: str, texts: Texts, clients: int, seconds: float) -> list[Result]:
    """`clients` connections for `seconds`, each sending its text until it is served
    (a refused one again at once, Retry-After ignored), then the next. Returns the
    answers that arrived within the window."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    results: list[Result] = []

    async def storm() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_client(host, port, texts, deadline, results)
                               for _ in range(clients)))

    asyncio.run(storm())
    return results
