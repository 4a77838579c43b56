"""schemathesis against the dashboard's OpenAPI spec: generated requests never cause a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from gridshield.web import create_app  # noqa: E402

# schemathesis' ASGI client sends ``Host: testserver``: allow that name (the guard refuses unknown hosts)
APP = create_app(Path(tempfile.mkdtemp()) / "runs.duckdb", max_queued_jobs=2, allowed_hosts=["testserver"])
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.include(path_regex="^/api/(health|cases|impact|jobs|board|deficit|schedule)").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
