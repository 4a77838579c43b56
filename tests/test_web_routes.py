"""Every dashboard route with hostile values (issue 13): routes are enumerated from the FastAPI app,
so routes added later are covered without editing this file.

For each route: path parameters and every body field get path-like strings (absolute and relative
paths of a canary file, /etc/passwd, traversals, URL-encoded forms), markup, absurd numbers and
wrong types; bodies are also sent malformed, empty and oversize; every route is called with a
foreign Host and (state-changing ones) a foreign Origin. No response may be a 500, and none may
contain the canary's text or a line of /etc/passwd; hostile values must be refused (4xx).
"""

from __future__ import annotations

import time
import typing
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.datastructures import UploadFile

from gridshield.web import create_app
from tests.test_matpower import CASE9

BASE = "http://127.0.0.1:8050"
CANARY = "gridshield-route-canary-51c2"
SAFE = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    (root / "canary.txt").write_text(f"{CANARY}\nsecond line\n")
    (root / "canary.m").write_text(CASE9.replace("mpc.version", f"% {CANARY}\nmpc.version"))
    (root / "canary.yaml").write_text(f"name: {CANARY}\ngrid: case9\nwaves: []\n")
    app = create_app(root / "runs.duckdb", max_upload_mb=0.05, upload_dir=root / "uploads")
    import os

    old = os.getcwd()
    os.chdir(root)  # relative paths in requests would resolve here
    try:
        with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
            yield app, client, root
    finally:
        os.chdir(old)


def hostile_strings(root: Path) -> list[str]:
    canary = root / "canary.txt"
    return [str(canary), "canary.txt", "./canary.m", str(root / "canary.m"), "canary.yaml", "/etc/passwd",
            "../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "file:///etc/passwd", "/proc/self/environ",
            "upload:../../etc/passwd", "upload:" + "f" * 16, "[/]", ":x:", "", " ", "a" * 5000, "\u202e", "%00",
            "${HOME}", "$(id)", "`id`", "NaN"]


def routes(app) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute)]


def assert_clean(r, what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert CANARY not in r.text, f"{what}: the canary file's text came back"
    assert "root:x:0:0" not in r.text and "/bin/bash" not in r.text, f"{what}: /etc/passwd came back"


def test_routes_are_enumerated(env):
    app, _, _ = env
    paths = {(m, r.path) for r in routes(app) for m in r.methods}
    assert {("POST", "/api/runs"), ("POST", "/api/impact"), ("GET", "/api/cases/{case}"),
            ("POST", "/api/cases/upload")} <= paths


def _fill_path(route: APIRoute, value: str) -> str:
    path = route.path
    for p in route.dependant.path_params:
        path = path.replace("{" + p.name + "}", quote(value, safe=""))
    return path


def test_hostile_path_parameters(env):
    app, client, root = env
    for route in routes(app):
        if not route.dependant.path_params:
            continue
        for value in hostile_strings(root):
            for method in route.methods - {"HEAD"}:
                r = client.request(method, _fill_path(route, value))
                assert_clean(r, f"{method} {route.path} with {value[:40]!r}")
                if value:  # an empty segment may match another route
                    assert 400 <= r.status_code < 500, f"{method} {route.path} {value[:40]!r}: {r.status_code}"


def _body_model(route: APIRoute):
    field = route.body_field
    return None if field is None else field.field_info.annotation if hasattr(field, "field_info") else field.type_


def _hostile_bodies(model, root: Path) -> list[dict]:
    """For each field of the body model, one body per hostile value (the other fields left out or default)."""
    fields = getattr(model, "model_fields", {})
    bodies = []
    for name, f in fields.items():
        ann = f.annotation
        origin = typing.get_origin(ann)
        for v in hostile_strings(root)[:14] + [1e308, -1, 10**15, None, {"a": 1}, [1, 2], True]:
            if origin is list and isinstance(v, str):
                v = [v]
            bodies.append({name: v})
    return bodies


def _is_upload(model) -> bool:
    return any(isinstance(f.annotation, type) and issubclass(f.annotation, UploadFile)
               for f in getattr(model, "model_fields", {}).values())


def test_hostile_bodies(env):
    app, client, root = env
    for route in routes(app):
        if route.methods <= SAFE:
            continue
        model = _body_model(route)
        for method in route.methods:
            path = _fill_path(route, "case9")
            if model is not None and _is_upload(model):
                for name in hostile_strings(root)[:12]:
                    for content in (CASE9.encode(), b"not a case file\n", b"\xff\xfe\x00" * 100, b""):
                        r = client.request(method, path, files={"file": (name or "x.m", content, "text/plain")})
                        assert_clean(r, f"upload named {name[:40]!r}")
                        if r.status_code == 200:  # kept under the spool folder, whatever its name said
                            files = list((root / "uploads").iterdir())
                            assert files and all(p.parent == root / "uploads" for p in files)
                continue
            bodies = _hostile_bodies(model, root) if model is not None else [{}]
            for body in bodies:
                r = client.request(method, path, json=body)
                assert_clean(r, f"{method} {route.path} body {str(body)[:60]}")
            for raw, ctype in ((b"{not json", "application/json"), (b"", "application/json"),
                               (b"\xff\xfe\x00", "application/json"), (b"[]", "application/json"),
                               (b"a=1", "application/x-www-form-urlencoded"), (b"<x/>", "text/xml")):
                r = client.request(method, path, content=raw, headers={"Content-Type": ctype})
                assert_clean(r, f"{method} {route.path} raw {raw[:20]!r}")
                assert 400 <= r.status_code < 500
            big = client.request(method, path, content=b"{" + b" " * 3_000_000 + b"}",
                                 headers={"Content-Type": "application/json"})
            assert big.status_code == 413, f"{method} {route.path}: oversize body got {big.status_code}"


def test_scenario_case_fields_name_no_file(env):
    """The run route's scenario text is a body field holding YAML: its grid.case gets the paths."""
    _, client, root = env
    for value in hostile_strings(root)[:12]:
        text = f"name: t\ngrid: {{case: '{value}'}}\nwaves:\n  - {{weapon: drone, launched: 3, targets: [{{class: line}}]}}\n"
        r = client.post("/api/runs", json={"scenario": text, "samples": 2})
        assert_clean(r, f"scenario grid.case {value[:40]!r}")
        assert r.status_code in (404, 422), (value, r.status_code, r.text[:200])
    deadline = time.time() + 60
    while any(j["status"] in ("queued", "running") for j in client.get("/api/jobs").json()) and time.time() < deadline:
        time.sleep(0.2)
    assert_clean(client.get("/api/jobs"), "job list")


def test_foreign_host_and_origin_on_every_route(env):
    app, client, root = env
    for route in routes(app):
        path = _fill_path(route, "case9")
        for method in route.methods - {"HEAD"}:
            r = client.request(method, path, headers={"Host": "evil.example.com"})
            assert r.status_code == 400, f"{method} {route.path} answered a foreign Host: {r.status_code}"
            if method not in SAFE:
                r = client.request(method, path, json={}, headers={"Origin": "http://evil.example.com"})
                assert r.status_code == 403, f"{method} {route.path} took a cross-origin request: {r.status_code}"
