"""The one error map (tts/web/error_map.py) and the one lifecycle in front of every route
(tts/web/middleware/lifecycle.py): status and code as data, every envelope with the
request id, errors that escape a layer rendered and recorded like any other answer."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client

from app import create_app
from tests.conftest import assert_error, make_settings
from tts import errors
from tts.engines.base import EngineError
from tts.frontend import NothingToSay, SsmlError, SsmlTooLarge
from tts.pool import DeadlineExceeded, Overloaded
from tts.web.error_map import Shape, envelope, shape_for, to_tts_error
from tts.web.middleware.lifecycle import Lifecycle


def test_every_status_has_one_class_and_one_code() -> None:
    classes = errors.TTSError.__subclasses__()
    assert len({cls.status for cls in classes}) == len({cls.code for cls in classes}) \
        == len(classes) == len(errors.BY_STATUS)
    assert all(errors.BY_STATUS[cls.status] is cls for cls in classes)


@pytest.mark.parametrize(("raised", "status", "param", "words"), [
    (NothingToSay("only punctuation"), 422, "text", "nothing speakable"),
    (SsmlTooLarge("over 200 elements"), 413, "text", "200 elements"),  # before SsmlError
    (SsmlError("unclosed <speak>"), 400, "text", "unclosed"),
    (Overloaded("queue full"), 503, None, "overloaded"),
    (DeadlineExceeded("after 30 s"), 503, None, "deadline exceeded"),
    (EngineError("session died"), 500, None, "synthesis failed"),
])
def test_lower_layer_failures_map_as_data(raised: Exception, status: int, param: str | None,
                                          words: str) -> None:
    error = to_tts_error(raised, "req-1")
    assert (error.status, error.param) == (status, param) and words in error.message
    assert (error.retry_after is not None) == (status == 503)


def test_unknown_exceptions_are_logged_500s(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        error = to_tts_error(KeyError("bug"), "req-2")
    assert error.status == 500 and error.code == "internal" and "bug" not in error.message
    assert any("req-2" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("shape", list(Shape))
def test_every_envelope_carries_the_request_id(shape: Shape) -> None:
    body = envelope(errors.Unavailable("overloaded"), "req-3", shape)
    error = body if shape is Shape.BATCH_ITEM else body["error"]
    assert error["request_id"] == "req-3" and error["message"] == "overloaded"


def test_openai_envelope_names_a_field_only_when_one_is_at_fault() -> None:
    unspeakable = envelope(to_tts_error(NothingToSay("x")), "r", Shape.OPENAI)["error"]
    overloaded = envelope(to_tts_error(Overloaded("x")), "r", Shape.OPENAI)["error"]
    assert (unspeakable["param"], unspeakable["type"]) == ("input", "invalid_request_error")
    assert (overloaded["param"], overloaded["type"]) == (None, "server_error")
    assert shape_for("/v1/audio/speech") is Shape.OPENAI and shape_for("/api/tts") is Shape.NATIVE


def test_batch_item_errors_carry_the_batch_request_id(client: FlaskClient) -> None:
    response = client.post("/api/tts_batch", json={"items": [{"text": ""}]},
                           headers={"X-Request-ID": "batch-9"})
    (result,) = response.get_json()["results"]
    assert result["error"]["request_id"] == "batch-9" == response.headers["X-Request-ID"]


def test_auth_errors_on_v1_use_openai_shape(voice_dir: Path) -> None:
    app = create_app(make_settings(voice_dir, api_keys="k-0123456789"), start=False)
    try:
        response = app.test_client().get("/v1/models")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"]
        error = response.get_json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["request_id"] == response.headers["X-Request-ID"]
        assert_error(app.test_client().get("/api/voices"), 401, "Bearer")
    finally:
        app.extensions["tts"].close()


def test_a_failure_escaping_a_layer_is_rendered_logged_and_counted(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("layer bug")

    client = Client(Lifecycle(broken, app, None))
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz", headers={"X-Request-ID": "esc-1"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "esc-1"
    assert response.get_json() == {"error": {
        "code": "internal", "message": "internal error; it has been logged",
        "request_id": "esc-1"}}
    (line,) = [r.__dict__["fields"] for r in caplog.records if r.name == "tts.request"]
    assert (line["request_id"], line["status"], line["route"]) == ("esc-1", 500, "/healthz")
    assert any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
