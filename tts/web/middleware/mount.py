"""Send one path prefix to another WSGI app (Socket.IO's server) inside the lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tts.web.exchange import EXCHANGE, Exchange

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Mount:
    """Requests under `prefix` go to `app`, named by the prefix in metrics and logs; the
    rest go on down the stack. Only the mounted paths pay for the other app's machinery
    (Socket.IO's middleware builds a class for every request it sees)."""

    def __init__(self, inner: WSGIApplication, prefix: str, app: WSGIApplication) -> None:
        self.inner = inner
        self.prefix = prefix
        self.app = app

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if not (environ.get("PATH_INFO") or "").startswith(self.prefix):
            return self.inner(environ, start_response)
        exchange: Exchange | None = environ.get(EXCHANGE)
        if exchange is not None:
            exchange.route = self.prefix
        return self.app(environ, start_response)
