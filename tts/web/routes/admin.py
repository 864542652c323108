"""Admin routes: `GET/POST /admin/degrade`, read or force where synthesis runs.

Registered only when `ADMIN_TOKEN` is set (otherwise the paths are 404) and
guarded by `Authorization: Bearer $ADMIN_TOKEN` (checked by the lifecycle's Guard,
tts/web/middleware/auth.py). A change applies to every worker of the pod (the mode
is shared, tts/pod.py); the response names the pid of the worker that answered,
and what it reports is that worker's view. See docs/operations.md "Degrade to CPU".
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from tts.engines.degrade import DegradingEngine, pod_mode
from tts.engines.degrade_machine import MODES
from tts.errors import BadRequest, Unavailable
from tts.web.context import json_object, worker_of
from tts.web.requests import reject_unknown

admin = Blueprint("admin", __name__)


def degrade_state() -> dict[str, Any]:
    engine = worker_of().engine
    if engine is None:
        raise Unavailable("the engine is still warming up")
    if isinstance(engine, DegradingEngine):
        state = engine.state()
    else:  # one path only: nothing to degrade from; the pod's mode is still reported
        state = {"mode": pod_mode().read()[1], "device": engine.device, "degraded": False,
                 "reason": f"single path: the engine runs on {engine.device} only",
                 "since_s": None, "accelerator": None, "switches": 0}
    return {**state, "worker_pid": os.getpid()}


@admin.get("/admin/degrade")
def degrade_get() -> Response:
    return jsonify(degrade_state())


@admin.post("/admin/degrade")
def degrade_post() -> Response:
    body = json_object()
    reject_unknown(body, ("mode",))
    mode = body.get("mode")
    if not isinstance(mode, str) or mode not in MODES:
        raise BadRequest(f"mode is required: one of {', '.join(MODES)}")
    engine = worker_of().engine
    if isinstance(engine, DegradingEngine):
        engine.set_mode(mode)
    elif engine is not None and mode == "gpu":
        raise BadRequest(f"mode gpu is not available: this worker has no accelerator "
                                f"(it runs on {engine.device} only)")
    else:  # every worker of a pod runs on the same hardware: set the pod's mode alike
        pod_mode().set(mode)
    return jsonify(degrade_state())


def init_app(app: Flask, admin_token: str) -> None:
    """Register the admin routes only when a token is configured."""
    if admin_token:
        app.register_blueprint(admin)
