"""Regression tests of the dashboard's security holes (issue 13, items 1 and 2): a request may name
no server file, foreign Host and cross-origin state changes are refused, bodies are size-limited."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from gridshield.web import create_app
from tests.test_matpower import CASE9

BASE = "http://127.0.0.1:8050"
CANARY = "gridshield-canary-7f3a9c"


def scenario(case: str) -> str:
    return (f"name: t\ngrid: {{case: '{case}'}}\nwaves:\n"
            "  - {weapon: drone, launched: 5, targets: [{class: line, weight: 1}]}\n")


@pytest.fixture()
def canary_files(tmp_path, monkeypatch):
    """A valid .m case and a text file holding a unique marker, in the server's working folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.txt").write_text(f"{CANARY} first line\nmore\n")
    (tmp_path / "valid.m").write_text(CASE9.replace("function mpc = case9", f"function mpc = case9 % {CANARY}"))
    return tmp_path


@pytest.fixture()
def client(tmp_path):
    app = create_app(tmp_path / "runs.duckdb", max_upload_mb=0.05, upload_dir=tmp_path / "uploads")
    with TestClient(app, base_url=BASE) as c:
        yield c


def wait_job(client, job_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = client.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize("case", ["/etc/passwd", "/proc/self/environ", "secret.txt", "./secret.txt", "valid.m",
                                  "../x.m", "nonexistent.m", "{abs}/valid.m", "{abs}/secret.txt", "file:///etc/passwd",
                                  "upload:../../etc/passwd", "upload:0123456789abcdef"])
def test_run_scenario_may_not_name_a_server_file(client, canary_files, case):
    """Item 1: POST /api/runs with grid.case a path was run (and echoed the file's first line)."""
    case = case.replace("{abs}", str(canary_files))
    r = client.post("/api/runs", json={"scenario": scenario(case), "samples": 5, "seed": 1})
    assert r.status_code in (404, 422), r.text
    assert CANARY not in r.text and "root:" not in r.text and str(canary_files) not in r.text
    assert "grid.case" in r.json()["detail"]
    assert client.get("/api/jobs").json() == []  # nothing was started
    for j in client.get("/api/jobs").json():
        assert CANARY not in str(j)


@pytest.mark.parametrize("route", ["impact", "schedule"])
def test_case_fields_may_not_name_a_server_file(client, canary_files, route):
    body = {"impact": {"damage": []}, "schedule": {"deficit_mw": [10.0, 20.0]}}[route]
    for case in ("/etc/passwd", str(canary_files / "valid.m"), "valid.m", "secret.txt"):
        r = client.post(f"/api/{route}", json={**body, "case": case})
        assert r.status_code in (404, 422), (case, r.text)
        assert CANARY not in r.text and str(canary_files) not in r.text


def test_uploaded_case_runs_by_its_id(client):
    up = client.post("/api/cases/upload", files={"file": ("c9.m", CASE9.encode(), "text/plain")})
    assert up.status_code == 200, up.text
    case = up.json()["case"]
    r = client.post("/api/runs", json={"scenario": scenario(case), "samples": 4, "seed": 2})
    assert r.status_code == 202, r.text
    j = wait_job(client, r.json()["id"])
    assert j["status"] == "done", j["error"]
    assert j["result"]["samples"] == 4


def test_uploads_are_spooled_to_disk_under_a_total_cap(tmp_path):
    folder = tmp_path / "up"
    app = create_app(tmp_path / "r.duckdb", max_upload_mb=0.01, max_upload_total_mb=0.02, upload_dir=folder)
    with TestClient(app, base_url=BASE) as c:
        ids = []
        padded = (CASE9 + "\n" + "% padding\n" * 800).encode()  # ~9 kB: two fit under the 20 kB cap
        assert 8_000 < len(padded) < 10_000
        for _ in range(4):
            r = c.post("/api/cases/upload", files={"file": ("c9.m", padded, "text/plain")})
            assert r.status_code == 200, r.text
            ids.append(r.json()["case"])
        total = sum(p.stat().st_size for p in folder.iterdir())
        assert total <= 0.02 * 1024 * 1024
        listed = {x["name"] for x in c.get("/api/cases").json() if x["source"] == "upload"}
        assert ids[-1] in listed and ids[0] not in listed  # the oldest were dropped to make room
        assert c.get(f"/api/cases/{ids[0]}").status_code in (404, 422)
        assert c.get(f"/api/cases/{ids[-1]}").status_code == 200


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8050", "127.0.0.1.evil.com", "localhost.evil",
                                  "", "[::2]:8050"])
def test_foreign_host_is_refused(client, host):
    """Item 2: a foreign Host header was answered (DNS rebinding)."""
    r = client.get("/api/health", headers={"Host": host})
    assert r.status_code == 400
    assert client.get("/api/cases", headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:8050", "localhost:8050", "LOCALHOST", "[::1]:8050"])
def test_loopback_hosts_are_answered(client, host):
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


def test_allowed_host_option(tmp_path):
    app = create_app(tmp_path / "r.duckdb", allowed_hosts=["grid-pc.local"])
    with TestClient(app, base_url="http://grid-pc.local:8050") as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/health", headers={"Host": "other.local"}).status_code == 400


@pytest.mark.parametrize("origin", ["http://evil.example.com", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8050.evil"])
def test_cross_origin_state_change_is_refused(client, origin):
    r = client.post("/api/impact", json={"case": "synthetic-city", "damage": []}, headers={"Origin": origin})
    assert r.status_code == 403
    r = client.post("/api/runs", json={"samples": 5}, headers={"Origin": origin})
    assert r.status_code == 403
    assert client.get("/api/jobs").json() == []


def test_same_origin_and_cross_site_fetch_metadata(client):
    ok = client.post("/api/impact", json={"case": "case9", "damage": []}, headers={"Origin": BASE})
    assert ok.status_code == 200
    r = client.post("/api/impact", json={"case": "case9", "damage": []}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.get("/api/health", headers={"Origin": "http://evil.example.com"}).status_code == 200  # reads: CORS


def test_bodies_are_limited_before_reading(client):
    big = client.post("/api/impact", content=b"{" + b" " * 2_000_000 + b"}",
                      headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    up = client.post("/api/cases/upload", files={"file": ("big.m", b"%" * 200_000, "text/plain")})
    assert up.status_code == 413

    def chunks():
        yield b'{"case": "case9", '
        yield b'"damage": []}'

    chunked = client.post("/api/impact", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 411


def test_internal_errors_do_not_echo_their_text(tmp_path, monkeypatch):
    """An unexpected exception's message (which may quote data) never reaches the client."""
    app = create_app(tmp_path / "r.duckdb")
    from gridshield.threat import runner

    def boom(*a, **k):
        raise ValueError(f"{CANARY} leaked")

    monkeypatch.setattr(runner, "run_risk", boom)
    monkeypatch.setattr("gridshield.threat.run_risk", boom)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        r = c.post("/api/runs", json={"samples": 3})
        assert r.status_code == 202
        j = wait_job(c, r.json()["id"])
        assert j["status"] == "failed" and CANARY not in j["error"] and "ValueError" in j["error"]
