"""GET /openapi.json: a valid OpenAPI 3 document that matches what the app really serves.

The document is compared with the app's own URL map and with the parser's field
lists, so a route or field added on one side only fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tts.audio import FORMATS, SAMPLE_RATES
from tts.emotions import EMOTIONS
from tts.web.requests import (
    BATCH_FIELDS,
    BATCH_ITEM_FIELDS,
    SPEECH_FIELDS,
    SPEED_RANGE,
    TIMESTAMPS,
)

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (the document only uses #/components/schemas/...)."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    content = document["paths"][path]["post"]["requestBody"]["content"]
    return resolve(document, content["application/json"]["schema"])


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_registered_route_is_documented_and_nothing_else(app: Flask,
                                                               document: dict[str, Any]) -> None:
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served.setdefault(path, set()).update(m.lower() for m in rule.methods or ()
                                              if m not in IMPLICIT_METHODS)
    documented = {path: set(item) - {"parameters", "summary", "description"}
                  for path, item in document["paths"].items()}
    assert documented == served


def test_speech_request_fields_match_the_parser(document: dict[str, Any]) -> None:
    schema = body_schema(document, "/api/tts")
    # jsonify sorts keys; timestamps is taken off the body before the parser sees it
    assert set(schema["properties"]) == {*SPEECH_FIELDS, TIMESTAMPS}
    assert schema["required"] == ["text"]
    assert schema["additionalProperties"] is False  # the parser rejects unknown fields


def test_query_parameters_match_the_parser(document: dict[str, Any]) -> None:
    params = document["paths"]["/api/tts"]["get"]["parameters"]
    assert all(p["in"] == "query" for p in params)
    assert [p["name"] for p in params] == list(SPEECH_FIELDS)  # a list keeps its order
    assert [p["name"] for p in params if p.get("required")] == ["text"]


def test_batch_and_frontend_fields_match_the_parser(document: dict[str, Any]) -> None:
    batch = body_schema(document, "/api/tts_batch")
    assert set(batch["properties"]) == set(BATCH_FIELDS)
    item = batch["properties"]["items"]["items"]
    assert set(item["properties"]) == set(BATCH_ITEM_FIELDS)
    assert set(body_schema(document, "/api/frontend")["properties"]) == {"text"}


def test_field_constraints_match_the_parser(app: Flask, document: dict[str, Any]) -> None:
    props = body_schema(document, "/api/tts")["properties"]
    settings = app.extensions["tts"].settings
    assert props["text"]["maxLength"] == settings.max_text_chars
    assert (props["speed"]["minimum"], props["speed"]["maximum"]) == SPEED_RANGE
    assert props["format"]["enum"] == list(FORMATS)
    assert props["sample_rate"]["enum"] == list(SAMPLE_RATES)
    assert props["emotion"]["enum"] == list(EMOTIONS)
    batch = body_schema(document, "/api/tts_batch")["properties"]["items"]
    assert batch["maxItems"] == settings.max_batch_items


def test_audio_content_types_match_the_formats(document: dict[str, Any]) -> None:
    ok = document["paths"]["/api/tts"]["post"]["responses"]["200"]
    # and JSON: the audio with its timestamps
    assert set(ok["content"]) == {spec.content_type for spec in FORMATS.values()} | {
        "application/json"}
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TimedSpeech"}
    assert {"X-Request-ID", "X-Cache", "X-Audio-Duration", "X-Engine", "X-Device"} <= set(
        ok["headers"])


def example(schema: dict[str, Any]) -> Any:
    """A value the document says is valid: its last enum value, its maximum, or a short text."""
    if "enum" in schema:
        return schema["enum"][-1]
    if schema["type"] == "number":
        return schema["maximum"]
    if schema["type"] == "boolean":
        return True
    return "你好。"


def test_every_documented_field_is_accepted(document: dict[str, Any],
                                            client: FlaskClient) -> None:
    props = body_schema(document, "/api/tts")["properties"]
    voice = client.get("/api/voices").get_json()["voices"][0]["name"]
    for name, schema in props.items():
        body = {"text": "好。", name: voice if name == "voice" else example(schema)}
        if name == "sample_rate":
            body["format"] = "wav"
        response = client.post("/api/tts", json=body)
        assert response.status_code == 200, (name, response.get_data(as_text=True)[:200])
    assert client.post("/api/tts", json={"text": "好。", "pitch": 1}).status_code == 400


def test_documented_error_statuses_cover_the_envelope(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/tts"]["post"]["responses"]
    assert {"400", "404", "413", "415", "422", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"code", "message", "request_id"}
