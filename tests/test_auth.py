"""API keys, admin token and per-key rate limits, through the real app.

One status per test where it can be: 401 (missing or malformed), 403 (wrong key),
429 (over the rate, with Retry-After); probes and /metrics stay open; admin
routes are 404 without ADMIN_TOKEN; keys never reach the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from app import create_app
from config import SETTINGS, Settings
from tests.conftest import assert_error, make_settings, started_app
from tts.pod import PodCounters
from tts.web.middleware.auth import RateLimit, bearer_token, key_matches

KEYS = ("key-alpha-0123456789", "key-beta-0123456789", "key-gamma-0123456789")
ADMIN_TOKEN = "admin-token-0123456789"
SPEECH = {"text": "你好，世界。"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def keyed_app(voice_dir: Path) -> Iterator[Flask]:
    app = started_app(make_settings(voice_dir, api_keys=" ,".join(KEYS) + ",",
                                    admin_token=ADMIN_TOKEN, rate_limit_per_s=0.2,
                                    rate_limit_burst=3))
    yield app
    app.extensions["tts"].close()


@pytest.fixture()
def keyed(keyed_app: Flask) -> FlaskClient:
    return keyed_app.test_client()


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic a2V5OmtleQ==",
                                   f"Token {KEYS[0]}", f"Bearer {KEYS[0]} extra"])
def test_missing_or_malformed_authorization_is_401(keyed: FlaskClient,
                                                   header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = keyed.post("/api/tts", json=SPEECH, headers=headers)
    assert_error(response, 401, "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_403(keyed: FlaskClient) -> None:
    response = keyed.get("/api/voices", headers=bearer("key-alpha-012345678"))
    assert_error(response, 403, "not accepted")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_every_configured_key_opens_synthesis_routes(keyed: FlaskClient) -> None:
    response = keyed.post("/api/tts", json=SPEECH, headers=bearer(KEYS[0]))
    assert response.status_code == 200 and response.headers["Content-Type"] == "audio/wav"
    assert keyed.get("/api/voices", headers=bearer(KEYS[1])).status_code == 200
    assert keyed.get("/api/voices", headers={"Authorization": f"bearer  {KEYS[1]}"}
                     ).status_code == 200
    assert keyed.get("/v1/models").status_code == 401  # the OpenAI-compatible routes too


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_probes_metrics_and_the_document_stay_open(keyed: FlaskClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_admin_route_needs_the_admin_token(keyed: FlaskClient) -> None:
    assert_error(keyed.get("/admin/degrade"), 401, "Authorization: Bearer")
    assert_error(keyed.get("/admin/degrade", headers=bearer(KEYS[0])), 403, "not accepted")
    assert_error(keyed.post("/admin/degrade", json={"mode": "cpu"}, headers=bearer("nope")),
                 403, "not accepted")
    response = keyed.get("/admin/degrade", headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 200 and response.get_json()["device"] == "cpu"


def test_admin_token_alone_still_challenges(voice_dir: Path) -> None:
    """No API keys and no rate limit (so no auth hooks at all): admin 401/403 still
    carry their WWW-Authenticate challenge."""
    app = create_app(make_settings(voice_dir, admin_token=ADMIN_TOKEN), start=False)
    try:
        admin = app.test_client()
        missing = admin.get("/admin/degrade")
        assert_error(missing, 401, "Authorization: Bearer")
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="tts-admin"'
        wrong = admin.get("/admin/degrade", headers=bearer("nope"))
        assert_error(wrong, 403, "not accepted")
        assert wrong.headers["WWW-Authenticate"] == (
            'Bearer realm="tts-admin", error="invalid_token"')
        assert admin.post("/api/tts", json=SPEECH).status_code != 401  # synthesis stays open
    finally:
        app.extensions["tts"].close()


def test_admin_routes_are_absent_without_a_token(client: FlaskClient) -> None:
    assert_error(client.get("/admin/degrade"), 404, "/admin/degrade")
    assert_error(client.post("/admin/degrade", json={"mode": "cpu"},
                             headers=bearer(ADMIN_TOKEN)), 404, "/admin/degrade")


def test_over_the_rate_is_429_with_retry_after_per_key(keyed: FlaskClient) -> None:
    for _ in range(3):  # the burst
        assert keyed.get("/api/voices", headers=bearer(KEYS[2])).status_code == 200
    limited = keyed.get("/api/voices", headers=bearer(KEYS[2]))
    assert_error(limited, 429, "requests per second")
    assert 1 <= int(limited.headers["Retry-After"]) <= 15  # 0.2/s, burst 3: 3 per 15 s
    # Another key has its own bucket; probes are never limited.
    assert keyed.get("/api/voices", headers=bearer(KEYS[1])).status_code == 200
    assert keyed.get("/healthz").status_code == 200


def test_a_limit_holds_across_workers_sharing_the_pod(tmp_path: Path) -> None:
    # Two workers' guards over one pod directory, as gunicorn's workers see it.
    first, second = (RateLimit(2.0, 4, PodCounters(directory=tmp_path)) for _ in range(2))
    assert (first.amount, first.window_s) == (4, 2)  # 4 requests per 2 s
    assert [limit.take("a") for limit in (first, second, first, second)] == [0.0] * 4
    assert 0 < second.take("a") <= 2.0 and 0 < first.take("a") <= 2.0
    assert first.take("b") == 0.0  # another key has its own count
    assert RateLimit(0.5, 0, PodCounters(directory=tmp_path)).amount == 1  # a second's worth


def test_pod_counters_stay_bounded_and_reuse_expired_slots(tmp_path: Path) -> None:
    counters = PodCounters(slots=4, probe=4, directory=tmp_path)
    for key in "abcdef":  # more keys than slots: the ones expiring first give way
        assert counters.incr(key, 60) == 1
    assert counters.get("f") == 1 and counters.get("a") == 0
    assert counters.incr("g", 0) == 1  # expires at once
    assert counters.get("g") == 0 and counters.incr("g", 60) == 1


def test_bearer_parsing_and_constant_time_match() -> None:
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer") is None
    assert key_matches("b", ["a", "b", "c"]) and not key_matches("d", ["a", "b", "c"])
    assert not key_matches("", [])


def test_keys_never_reach_the_logs(keyed: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        keyed.post("/api/tts", json=SPEECH, headers=bearer(KEYS[0]))
        keyed.get("/api/voices", headers=bearer("wrong-" + KEYS[0]))
        keyed.get("/admin/degrade", headers=bearer(ADMIN_TOKEN))
        keyed.get("/admin/degrade", headers=bearer("wrong-" + ADMIN_TOKEN))
    assert any(r.name == "tts.request" for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (*KEYS, ADMIN_TOKEN):
        assert secret not in logged


def test_keys_are_secret_settings_and_masked() -> None:
    secret = {s.env for s in SETTINGS if s.secret}
    assert {"API_KEYS", "ADMIN_TOKEN"} <= secret
    settings = Settings.from_env({"API_KEYS": ",".join(KEYS), "ADMIN_TOKEN": ADMIN_TOKEN})
    assert settings.api_key_list == KEYS
    masked = str(settings.masked())
    assert all(secret not in masked for secret in (*KEYS, ADMIN_TOKEN))
    assert settings.masked()["api_keys"] == "***"


def test_openapi_documents_auth_metrics_and_admin(keyed: FlaskClient) -> None:
    document = keyed.get("/openapi.json").get_json()
    validate(document)
    assert "/metrics" in document["paths"] and "/admin/degrade" in document["paths"]
    responses = document["paths"]["/api/tts"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]
