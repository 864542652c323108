"""Operations routes: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tts.web.context import worker_of
from tts.web.openapi import openapi_document

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
def healthz() -> Response:
    """Liveness: answers as long as the event loop does; never waits on synthesis."""
    return jsonify({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
    worker = worker_of()
    engine = worker.engine
    body = {
        "ready": worker.ready,
        "draining": worker.draining,
        "engine": engine.name if engine else worker.settings.engine,
        "device": engine.device if engine else None,
        "degraded": bool(getattr(engine, "degraded", False)),  # tts.engines.degrade
        "warm_up_s": worker.warm_up_s,
        "error": worker.error,
        "cache": worker.cache.state(),
        "queue": {"in_flight": worker.pool.in_flight, "queued": worker.pool.queued,
                  "capacity": worker.pool.capacity},
    }
    response = jsonify(body)
    response.status_code = 200 if worker.ready else 503
    return response


@ops.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(worker_of().settings))
