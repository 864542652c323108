"""Tier-1 hits answered before Flask (tts/web/hits.py): same answer, same checks, same
records as when Flask serves them; everything else still reaches Flask.

A spy wraps the real `/api/tts` POST view to count the requests Flask answered.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from tests.conftest import assert_error, make_settings, post_raw, started_app
from tts.testing.texts import distinct_text
from tts.web.middleware.hits import BODY_LIMIT
from tts.worker import Worker

VIEW = "speech.tts_post"


@contextmanager
def view_calls(app: Flask) -> Iterator[list[int]]:
    """Counts the POST /api/tts requests that reached the Flask view."""
    calls: list[int] = []
    view = app.view_functions[VIEW]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return view(*args, **kwargs)

    app.view_functions[VIEW] = counted
    try:
        yield calls
    finally:
        app.view_functions[VIEW] = view


@pytest.fixture()
def flask_answers(app: Flask) -> Iterator[list[int]]:
    with view_calls(app) as calls:
        yield calls


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(status: str) -> float:
    return sample("tts_http_requests_total", route="/api/tts", method="POST", status=status)


def timed() -> tuple[float, float]:
    """(requests timed, whole responses timed to first audio) so far."""
    return (sample("tts_http_request_duration_seconds_count", route="/api/tts"),
            sample("tts_time_to_first_audio_seconds_count", mode="whole"))


def test_repeat_is_answered_before_flask_exactly_as_flask_answers_it(
        client: FlaskClient, flask_answers: list[int]) -> None:
    text = distinct_text(1, tag="hits-same")
    first = client.post("/api/tts", json={"text": text})
    assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
    assert len(flask_answers) == 1
    shortcut = client.post("/api/tts", json={"text": text})
    assert len(flask_answers) == 1, "the repeat reached Flask"
    via_flask = client.get("/api/tts", query_string={"text": text})  # GET: always Flask
    for hit in (shortcut, via_flask):
        assert hit.status_code == 200 and hit.headers["X-Cache"] == "hit-memory"
        assert hit.data == first.data
    unlike = {"X-Request-ID"}
    assert ({k: v for k, v in shortcut.headers.items() if k not in unlike}
            == {k: v for k, v in via_flask.headers.items() if k not in unlike})
    assert shortcut.headers["Content-Length"] == str(len(first.data))


def test_hit_keeps_the_request_id_and_is_logged_counted_and_timed(
        app: Flask, client: FlaskClient, flask_answers: list[int],
        caplog: pytest.LogCaptureFixture) -> None:
    worker: Worker = app.extensions["tts"]
    body = {"text": distinct_text(2, tag="hits-records")}
    with caplog.at_level(logging.INFO, logger="tts.request"):
        client.post("/api/tts", json=body)
        hits_before = worker.cache.memory.stats.snapshot()["hits"]
        counted_before, timed_before = requests_counted("200"), timed()
        hit = client.post("/api/tts", json=body, headers={"X-Request-ID": "caller-7"})
    assert len(flask_answers) == 1 and hit.headers["X-Cache"] == "hit-memory"
    assert hit.headers["X-Request-ID"] == "caller-7"
    by_flask, by_shortcut = [r.__dict__["fields"] for r in caplog.records
                             if r.name == "tts.request"]
    assert by_shortcut["request_id"] == "caller-7" and by_shortcut["cache"] == "hit-memory"
    same = {"method", "route", "status", "text_chars", "audio_s", "sentences"}
    assert {k: by_shortcut[k] for k in same} == {k: by_flask[k] for k in same}
    assert set(by_shortcut) == set(by_flask) | {"shortcut"} and by_shortcut["shortcut"] is True
    assert worker.cache.memory.stats.snapshot()["hits"] == hits_before + 1
    assert requests_counted("200") == counted_before + 1
    assert timed() == (timed_before[0] + 1, timed_before[1] + 1)


@pytest.mark.parametrize(("body", "status", "named"), [
    (b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd", ', 400, ("not valid JSON",)),
    (b'["text"]', 400, ("JSON object",)),
    (b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd", "pitch": 2}', 400, ("pitch",)),
    (b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd", "speed": 9}', 400, ("speed",)),
    (b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd", "voice": "nobody"}', 404, ("nobody",)),
])
def test_bad_bodies_get_flasks_error_every_time(
        app: Flask, client: FlaskClient, flask_answers: list[int], body: bytes, status: int,
        named: tuple[str, ...]) -> None:
    remembered = len(app.extensions["hits"].parsed)
    for attempt in (1, 2):
        assert_error(post_raw(client, body), status, *named)
        assert len(flask_answers) == attempt
    assert len(app.extensions["hits"].parsed) == remembered


@pytest.mark.parametrize(("text", "status", "named"), [
    ("。。。", 422, "nothing speakable"),
    ("<speak><bad", 400, "SSML"),
])
def test_front_end_refusals_are_left_to_flask_without_planning_twice(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, text: str,
        status: int, named: str) -> None:
    """The shortcut never plans: a text the front end refuses is refused once, by Flask,
    and leaves no error in the log."""
    synthesizer = app.extensions["tts"].service.synthesizer
    plans: list[str] = []
    plan = synthesizer.plan

    def counted(text: str) -> Any:
        plans.append(text)
        return plan(text)

    synthesizer.plan = counted
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                assert_error(client.post("/api/tts", json={"text": text}), status, named)
    finally:
        del synthesizer.plan  # back to the class's method
    assert len(plans) == 2  # once per request, both from Flask's route
    assert not [r for r in caplog.records if r.name == "tts.web.middleware.hits"]


@pytest.mark.parametrize("content_type", ["application/json\xa0", "\x85application/json",
                                          "application/jsonx"])
def test_content_types_flask_refuses_are_refused_on_a_hit_too(
        client: FlaskClient, content_type: str) -> None:
    body = {"text": distinct_text(7, tag="hits-types")}
    assert client.post("/api/tts", json=body).status_code == 200
    response = client.post("/api/tts", data=json.dumps(body), content_type=content_type)
    assert_error(response, 415, "application/json")


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("spell", [
    lambda n: f"+{n}", lambda n: f"{n[0]}_{n[1:]}", lambda n: n.translate(ARABIC_INDIC)])
def test_content_lengths_werkzeug_rejects_get_flasks_answer_on_a_hit(
        client: FlaskClient, flask_answers: list[int], spell: Callable[[str], str]) -> None:
    """Python's int() takes these; werkzeug reads them as 0, so Flask sees no body."""
    body = json.dumps({"text": distinct_text(8, tag="hits-length")}).encode()
    assert post_raw(client, body).status_code == 200
    before = len(flask_answers)
    response = client.post("/api/tts", data=body, content_type="application/json",
                           environ_overrides={"CONTENT_LENGTH": spell(str(len(body)))})
    assert_error(response, 400, "not valid JSON")
    assert len(flask_answers) == before + 1


def test_flask_times_a_request_from_when_the_shortcut_saw_it(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    hits = app.extensions["hits"]
    parse = hits._parse

    def slow_parse(body: bytes) -> Any:
        time.sleep(0.2)
        return parse(body)

    monkeypatch.setattr(hits, "_parse", slow_parse)
    with caplog.at_level(logging.INFO, logger="tts.request"):
        assert_error(client.post("/api/tts", json={"text": "你好", "voice": "nobody"}), 404)
    (line,) = [r.__dict__["fields"] for r in caplog.records if r.name == "tts.request"]
    assert line["ms"] >= 200 and "shortcut" not in line


def test_what_the_shortcut_does_not_take_still_hits_the_cache_through_flask(
        client: FlaskClient, flask_answers: list[int]) -> None:
    text = distinct_text(3, tag="hits-other")
    padded = f'{{"text": "{text}"}}'.encode() + b" " * BODY_LIMIT  # valid JSON, too long
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: post_raw(client, padded), "larger than the shortcut reads"),
        (lambda: client.post("/api/tts", data=padded[:-BODY_LIMIT],
                             content_type="application/vnd.tts+json"), "a +json type"),
    ]
    assert client.post("/api/tts", json={"text": text}).headers["X-Cache"] == "miss"
    for send, why in cases:
        before = len(flask_answers)
        response = send()
        assert response.status_code == 200 and response.headers["X-Cache"] == "hit-memory", why
        assert len(flask_answers) == before + 1, why


def test_audio_that_left_tier_1_is_found_again_through_flask_and_counted_once(
        app: Flask, client: FlaskClient, flask_answers: list[int]) -> None:
    worker: Worker = app.extensions["tts"]
    body = {"text": "请九号窗口的旅客稍候片刻"}  # one sentence: one lookup, one miss
    first = client.post("/api/tts", json=body)
    worker.cache.memory.clear()
    misses = worker.cache.memory.stats.snapshot()["misses"]
    again = client.post("/api/tts", json=body)
    assert again.headers["X-Cache"] == "miss" and again.data == first.data
    assert len(flask_answers) == 2
    assert worker.cache.memory.stats.snapshot()["misses"] == misses + 1


def test_worker_still_warming_up_answers_503(stopped_app: Flask) -> None:
    response = stopped_app.test_client().post("/api/tts", json={"text": "你好。"})
    assert_error(response, 503, "warming up")
    assert response.headers["Retry-After"]


def test_fault_injected_in_the_shortcut_costs_only_the_shortcut(
        app: Flask, client: FlaskClient, flask_answers: list[int],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    body = {"text": distinct_text(4, tag="hits-fault")}
    first = client.post("/api/tts", json=body)
    service = app.extensions["tts"].service

    def broken(_request: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(service, "remembered", broken)
    with caplog.at_level(logging.ERROR, logger="tts.web.middleware.hits"):
        again = client.post("/api/tts", json=body)
    assert again.status_code == 200 and again.headers["X-Cache"] == "hit-memory"
    assert again.data == first.data and len(flask_answers) == 2
    assert any("Flask answers instead" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- keys and rate limits

KEY = "hits-key-0123456789"


@pytest.fixture(scope="module")
def keyed_app(voice_dir: Path) -> Iterator[Flask]:
    app = started_app(make_settings(voice_dir, api_keys=KEY, rate_limit_per_s=0.001,
                                    rate_limit_burst=3))
    yield app
    app.extensions["tts"].close()


def test_keys_and_rate_limits_apply_to_hits_and_charge_each_request_once(
        keyed_app: Flask) -> None:
    client = keyed_app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    text = distinct_text(5, tag="hits-keyed")
    with view_calls(keyed_app) as answered:
        first = client.post("/api/tts", json={"text": text}, headers=auth)  # token 1 of 3
        assert first.headers["X-Cache"] == "miss"
        assert_error(client.post("/api/tts", json={"text": text}), 401, "Bearer")
        assert_error(client.post("/api/tts", json={"text": text},
                                 headers={"Authorization": "Bearer wrong"}), 403, "not accepted")
        hit = client.post("/api/tts", json={"text": text}, headers=auth)  # token 2
        assert hit.headers["X-Cache"] == "hit-memory" and len(answered) == 1
        # Token 3: a miss the shortcut checked goes on to Flask without a second charge.
        other = client.post("/api/tts", json={"text": distinct_text(6, tag="hits-keyed")},
                            headers=auth)
        assert other.status_code == 200 and other.headers["X-Cache"] == "miss"
        assert_error(client.post("/api/tts", json={"text": text}, headers=auth), 429,
                     "requests per second")
