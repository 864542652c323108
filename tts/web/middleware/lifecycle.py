"""The one lifecycle every HTTP request goes through, whichever layer answers it.

    request id -> clock starts -> auth (Guard) -> handler -> status seen -> metrics + log line

Outermost in the stack `create_app` declares: it gives each request its `Exchange`
(tts/web/exchange.py) in the WSGI environ, checks keys and rate limits once, adds
`X-Request-ID` to every answer, renders what escapes the layers below with the one
error renderer (tts/web/error_map.py), and records the request once its answer has
started. Handlers below only add what they know to the exchange: the route, log
fields, whether the body is whole audio. Flask renders the errors of its own routes
with the same renderer (its error handler in app.py), so every error has one shape
per surface, and every answer one log line and one count.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flask import Flask

from tts.web import headers
from tts.web.error_map import error_response, shape_for, to_tts_error
from tts.web.exchange import EXCHANGE, Exchange, request_id_from
from tts.web.middleware.auth import Guard
from tts.web.observability.record import record_request

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_LOGGER = logging.getLogger(__name__)

UPGRADED = 101  # a websocket the server upgraded itself: the app never starts a response


class Lifecycle:
    """WSGI middleware: see the module docstring. One per app."""

    def __init__(self, inner: WSGIApplication, app: Flask, guard: Guard | None) -> None:
        self.inner = inner
        self.app = app
        self.guard = guard

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        exchange = environ[EXCHANGE] = Exchange(
            request_id_from(environ.get(headers.REQUEST_ID_ENVIRON, "")), time.perf_counter())
        request_id = exchange.request_id

        def start(status: str, response_headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            exchange.status = int(status[:3])
            response_headers.append((headers.REQUEST_ID, request_id))
            return start_response(status, response_headers, exc_info)

        def restart(status: str, response_headers: list[tuple[str, str]],
                    exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
            # A layer failed after starting its answer: exc_info lets the server replace it.
            return start(status, response_headers, sys.exc_info())

        path: str = environ.get("PATH_INFO") or ""
        try:
            if self.guard is not None:
                self.guard.check(path, environ.get("REMOTE_ADDR"),
                                 environ.get(headers.AUTHORIZATION_ENVIRON))
            body = self.inner(environ, start)
        except Exception as exc:  # rendered like any error; a bug is logged by the map
            error = to_tts_error(exc, request_id)
            response = error_response(error, request_id, shape_for(path))
            body = response(environ, restart if exchange.status else start)
        self._record(environ, exchange, path)
        return body

    def _record(self, environ: WSGIEnvironment, exchange: Exchange, path: str) -> None:
        if not exchange.status:
            exchange.status = UPGRADED
        if exchange.route is None:
            exchange.route = self._route(environ)
        try:
            record_request(self.app, exchange, environ.get("REQUEST_METHOD", ""), path,
                           time.perf_counter() - exchange.started)
        except Exception:  # a record never fails the answer it describes
            _LOGGER.exception("recording request %s failed", exchange.request_id)

    def _route(self, environ: WSGIEnvironment) -> str | None:
        """The route template the request matched, from the app's own URL map; None
        when it matched none (404, 405). Only answers whose handler did not name their
        route pay for this."""
        try:
            rule, _ = self.app.url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:  # no match, a redirect, or a Host werkzeug refuses: unmatched
            return None
        return str(rule.rule)
