"""The operations part of the OpenAPI document: /metrics, /admin/degrade, auth and 429.

Applied to the document `tts.web.openapi` builds, so every synthesis route
(including ones added later under /api/ or /v1/) gets its 401/403/429 answers.
"""

from __future__ import annotations

from typing import Any

from config import Settings
from tts.engines.degrade_machine import MODES
from tts.web import headers
from tts.web.error_map import Shape, shape_for
from tts.web.middleware.auth import PROTECTED_PREFIXES

# Each error shape's schema (tts/web/error_map.py renders them).
_SCHEMAS = {Shape.NATIVE: {"$ref": "#/components/schemas/Error"},
            Shape.OPENAI: {"$ref": "#/components/schemas/OpenAIError"}}


def _error(description: str, extra: dict[str, Any] | None = None,
           shape: Shape = Shape.NATIVE) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": _SCHEMAS[shape]}}}
    if extra:
        response["headers"] = extra
    return response


def _auth_errors(what: str, shape: Shape = Shape.NATIVE) -> dict[str, Any]:
    challenge = {headers.WWW_AUTHENTICATE: {"schema": {"type": "string"},
                                            "description": "Bearer challenge"}}
    return {"401": _error(f"Authorization: Bearer <{what}> is missing or malformed", challenge,
                          shape),
            "403": _error(f"the {what} is not accepted", challenge, shape)}


def _rate_limited(shape: Shape) -> dict[str, Any]:
    return _error("over RATE_LIMIT_PER_S for this key (or client); retry after Retry-After",
                  {headers.RETRY_AFTER: {"schema": {"type": "integer"},
                                         "description": "seconds"}}, shape)


def _degrade_state() -> dict[str, Any]:
    return {"type": "object", "required": ["mode", "device", "degraded"], "properties": {
        "mode": {"type": "string", "enum": list(MODES)},
        "device": {"type": "string"},
        "degraded": {"type": "boolean"},
        "reason": {"type": "string"},
        "since_s": {"type": "number", "nullable": True,
                    "description": "seconds since the last change of mode or path"},
        "accelerator": {"type": "string", "nullable": True,
                        "description": "the accelerator device, null on a CPU-only worker"},
        "switches": {"type": "integer"},
        "worker_pid": {"type": "integer", "description": "the worker this state belongs to"}}}


def with_operations(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add auth answers to synthesis routes, and the /metrics and admin paths."""
    paths: dict[str, Any] = document["paths"]
    components: dict[str, Any] = document.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    schemes["apiKey"] = {"type": "http", "scheme": "bearer",
                         "description": "one of API_KEYS; required only when API_KEYS is set"}
    for path, item in paths.items():
        if not path.startswith(PROTECTED_PREFIXES):
            continue
        shape = shape_for(path)
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].update({**_auth_errors("API key", shape),
                                           "429": _rate_limited(shape)})
            operation["security"] = [{}, {"apiKey": []}]  # open unless API_KEYS is set
    paths["/metrics"] = {"get": {
        "summary": "Prometheus metrics (text format), all workers aggregated",
        "operationId": "metrics",
        "responses": {"200": {"description": "Prometheus text exposition format 0.0.4",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    if settings.admin_token:
        schemes["adminToken"] = {"type": "http", "scheme": "bearer",
                                 "description": "ADMIN_TOKEN"}
        components.setdefault("schemas", {})["DegradeState"] = _degrade_state()
        state = {"description": "where synthesis runs in this worker",
                 "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/DegradeState"}}}}
        admin_errors = {**_auth_errors("admin token"),
                        "503": _error("the engine is still warming up")}
        paths["/admin/degrade"] = {
            "get": {"summary": "Read where synthesis runs (degrade to CPU)",
                    "operationId": "degradeGet", "security": [{"adminToken": []}],
                    "responses": {"200": state, **admin_errors}},
            "post": {"summary": "Force cpu or gpu, or return to auto",
                     "operationId": "degradePost", "security": [{"adminToken": []}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": ["mode"],
                                    "additionalProperties": False,
                                    "properties": {"mode": {"type": "string",
                                                            "enum": list(MODES)}}}}}},
                     "responses": {"200": state, **admin_errors,
                                   "400": _error("mode missing or not allowed (gpu on a "
                                                 "CPU-only worker)"),
                                   "415": _error("body is not JSON")}},
        }
    return document
