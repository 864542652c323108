"""WSGI layers in front of Flask, assembled by `stack` in the order `create_app` declares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

Layer = Callable[["WSGIApplication"], "WSGIApplication"]


def stack(endpoint: WSGIApplication, layers: Sequence[Layer]) -> WSGIApplication:
    """`layers[0]` outermost: it sees each request first and its answer last."""
    app = endpoint
    for layer in reversed(layers):
        app = layer(app)
    return app
