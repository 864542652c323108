"""Fuzz the API from its own OpenAPI document with schemathesis (in-process WSGI app).

Every operation in `GET /openapi.json` gets generated requests, valid and invalid
(schemathesis' positive and negative modes); no answer may be a 5xx and every answer
must match the status codes, content types, headers and schemas the document declares.
The run is bounded: `FUZZ_EXAMPLES` cases per operation and mode (default 15, so ~300
cases over the 12 operations, about a minute). The longer run (>= 1,000 cases against
live gunicorn, through the schemathesis CLI) is `python -m bench.faults --only fuzz`.

(schemathesis' own pytest plugin does not work with pytest 9 yet, so each operation is
a parametrized test driving its hypothesis strategy directly.)
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode

from app import create_app
from config import Settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def operations(schema: schemathesis.BaseSchema) -> dict[str, schemathesis.APIOperation]:
    """Every operation of the document by label; a part it cannot read fails the run."""
    found = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found[result.ok().label] = result.ok()
    return found


def operation_labels() -> list[str]:
    """Operations of the document, read at collection time (no engine needed for it)."""
    app = create_app(Settings.from_env({}), start=False)
    return sorted(operations(schemathesis.openapi.from_wsgi("/openapi.json", app)))


@pytest.fixture(scope="module")
def api_schema(app: Flask) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("label", operation_labels())
def test_operation_never_5xx_and_matches_its_schema(
        api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode) -> None:
    operation = operations(api_schema)[label]
    strategy = operation.as_strategy(generation_mode=mode)

    @given(data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(strategy)
        calls.append(case.method)
        case.call_and_validate(checks=CHECKS)

    calls: list[str] = []
    try:
        fuzz()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip(f"{label} takes no input that could be made invalid")
    print(f"{label} {mode.value}: {len(calls)} generated cases")
