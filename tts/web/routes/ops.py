"""Operations routes: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from tts.engines.degrade import DegradingEngine
from tts.web.context import worker_of
from tts.web.observability.metrics import scrape
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
        "degraded": isinstance(engine, DegradingEngine) and engine.degraded,
        "warm_up_s": worker.warm_up_s,
        "error": worker.error,
        "cache": worker.cache.state(),
        "queue": {"in_flight": worker.pool.in_flight, "queued": worker.pool.queued,
                  "capacity": worker.pool.capacity},
    }
    response = jsonify(body)
    response.status_code = 200 if worker.ready else 503
    return response


@ops.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: every worker's values under gunicorn."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return Response(scrape(app), content_type=CONTENT_TYPE_LATEST)


@ops.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(worker_of().settings))
