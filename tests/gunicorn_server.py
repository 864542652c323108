"""The `gunicorn_servers` fixture over tts.testing.gunicorn_server.

`gunicorn_servers({"WORKERS": "1"})` returns a ready `GunicornServer` and every
server started so is stopped when the test ends. Loaded for every test through
`pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tts.testing.gunicorn_server import ServerFactory


@pytest.fixture()
def gunicorn_servers() -> Iterator[ServerFactory]:
    """`gunicorn_servers({"WORKERS": "1"})` -> a ready GunicornServer, stopped after the test."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()
