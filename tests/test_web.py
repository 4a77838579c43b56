"""Dashboard API: FastAPI test client, security rules, schemathesis (no 500s) and a loopback load test."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from gridshield.web import create_app
from tests.test_matpower import CASE9

#: The dashboard answers only to its bound host names (DNS-rebinding guard): loopback here.
BASE = "http://127.0.0.1:8050"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("web") / "runs.duckdb", max_upload_mb=0.05)
    with TestClient(app, base_url=BASE) as c:
        yield c


def test_pages_render(client):
    for path in ("/", "/case/synthetic-city", "/runs", "/schedule"):
        r = client.get(path)
        assert r.status_code == 200 and "<nav>" in r.text, path
    js = client.get("/static/plotly.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_cases_and_info(client):
    names = {c["name"]: c["source"] for c in client.get("/api/cases").json()}
    assert names["synthetic-city"] == "builtin"
    info = client.get("/api/cases/synthetic-city").json()
    assert info["summary"]["buses"] > 20 and len(info["sites"]) >= 6


def test_impact_of_a_site(client):
    info = client.get("/api/cases/synthetic-city").json()
    site = f"site:{info['sites'][0]}"
    r = client.post("/api/impact", json={"case": "synthetic-city", "damage": [site]})
    assert r.status_code == 200
    body = r.json()
    assert body["impact"]["lost_mw"] >= 0.0
    assert sum(1 for t in body["figure"]["data"] if (t.get("meta") or {}).get("kind") == "district") == 20
    intact = client.post("/api/impact", json={"case": "synthetic-city", "damage": []}).json()
    assert intact["impact"]["lost_mw"] == pytest.approx(0.0, abs=1e-6)
    assert {d["state"] for d in intact["extra"]["districts"]} == {"supplied"}


def test_impact_names_dark_districts_and_critical_loads(client):
    """The map's district areas and the district list say 'dark' exactly where the independent
    assessment leaves the district bus without supply; critical loads come back by name."""
    import gridshield as gs

    dmg = ["site:S110-Fairmont"]
    body = client.post("/api/impact", json={"case": "synthetic-city", "damage": dmg}).json()
    grid = gs.load_case("synthetic-city")
    ref = gs.assess_damage(grid, dmg)
    dark_ref = {str(grid.buses.name[b]).removesuffix(" 10 kV") for b in range(len(grid.buses))
                if grid.buses.base_kv[b] == 10.0 and not ref.bus_energised[b]}
    assert dark_ref == {"Fairmont", "Pinecrest"}
    assert {d["name"] for d in body["extra"]["districts"] if d["state"] == "dark"} == dark_ref
    drawn = {t["meta"]["name"] for t in body["figure"]["data"]
             if (t.get("meta") or {}).get("kind") == "district" and t["meta"]["state"] == "dark"}
    assert drawn == dark_ref
    names = {c["name"] for c in body["extra"]["critical_lost"]}
    assert names == {str(grid.loads.name[grid.loads.index[c]]) for c in ref.critical_lost}
    assert "Fairmont city hospital" in names
    assert body["extra"]["heat"]["people_without_heat"] > 0


def test_docs_are_served_offline(client):
    page = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    js = client.get("/static/swagger/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert client.get("/static/swagger/swagger-ui.css").status_code == 200
    assert client.get("/static/swagger/index.html").status_code == 404  # a fixed list, no file names from requests
    assert client.get("/openapi.json").json()["paths"]["/api/board"]


def test_deficit_from_damage_and_supply(client):
    import gridshield as gs
    from gridshield.outages import deficit_from_impact

    dmg = ["site:S330-East", "site:CHP-Aurora"]
    r = client.post("/api/deficit", json={"case": "synthetic-city", "damage": dmg, "hours": 24,
                                          "start": "2026-01-12", "step_h": 0.5, "supply_mw": 2000})
    assert r.status_code == 200, r.text
    body = r.json()
    grid = gs.load_case("synthetic-city")
    ref = deficit_from_impact(grid, gs.assess_damage(grid, dmg), hours=24, start="2026-01-12", step_h=0.5,
                              supply_mw=2000)
    assert body["time"][0] == "2026-01-12T00:00" and body["time"][1] == "2026-01-12T00:30" and len(body["time"]) == 48
    np.testing.assert_allclose(body["deficit_mw"], ref["deficit_mw"].to_numpy())
    assert client.post("/api/deficit", json={"case": "synthetic-city", "start": "tomorrow"}).status_code == 422
    assert client.post("/api/deficit", json={"case": "synthetic-city", "hours": 10_000}).status_code == 422


def test_board_endpoint(client):
    r = client.post("/api/board", json={"case": "synthetic-city", "damage": ["site:S110-Fairmont"],
                                        "strike_time": "2026-01-12T02:00", "crews": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = [(t.get("meta") or {}).get("kind") for t in body["figure"]["data"]]
    assert "repair" in kinds and "served" in kinds and "below 12" in kinds
    assert body["figure"]["layout"]["xaxis4"]["range"][0].startswith("2026-01-12T02:00")
    assert {c["name"] for c in body["critical_back"]} >= {"Fairmont city hospital"}
    assert all(c["back_after_h"] is None or c["back_after_h"] > 0 for c in body["critical_back"])
    assert client.post("/api/board", json={"case": "synthetic-city", "damage": ["site:S110-Fairmont"],
                                           "crews": 0}).status_code == 422


def test_geojson_round_trip_and_errors(client):
    gj = client.get("/api/cases/synthetic-city/geojson").json()
    assert gj["type"] == "FeatureCollection" and gj["gridshield"]["units"] == "km"
    import json as _json

    r = client.post("/api/cases/synthetic-city/geojson",
                    files={"file": ("d.geojson", _json.dumps(gj).encode(), "application/geo+json")})
    assert r.status_code == 200 and r.json()["areas"] == 20
    gj["features"][0]["properties"]["buses"] = ["bus:nowhere"]
    bad = client.post("/api/cases/synthetic-city/geojson",
                      files={"file": ("d.geojson", _json.dumps(gj).encode(), "application/geo+json")})
    assert bad.status_code == 422 and "bus:nowhere" in bad.json()["detail"]


def test_bad_requests_are_4xx(client):
    assert client.post("/api/impact", json={"case": "synthetic-city", "damage": ["site:nowhere"]}).status_code == 422
    assert client.get("/api/cases/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)
    assert client.get("/api/cases/case118x").status_code == 404
    assert client.post("/api/impact", json={"case": "/etc/passwd", "damage": []}).status_code == 422
    assert client.get("/runs/../../x/report").status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404


def test_upload_safe_parser_and_limit(client):
    r = client.post("/api/cases/upload", files={"file": ("c9.m", CASE9.encode(), "text/plain")})
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    assert case.startswith("upload:") and r.json()["summary"]["buses"] == 3
    assert client.post("/api/impact", json={"case": case, "damage": ["branch:1"]}).status_code == 200
    bad = client.post("/api/cases/upload", files={"file": ("bad.m", b"mpc.bus = [1 2 3", "text/plain")})
    assert bad.status_code == 422 and "bad.m" in bad.json()["detail"]
    big = client.post("/api/cases/upload", files={"file": ("big.m", b"%" * 200_000, "text/plain")})
    assert big.status_code == 413


@pytest.mark.parametrize("rel", ["psse/IEEE_14_bus.raw", "cgmes/IEEE_14_bus.zip"])
def test_upload_operator_formats(tmp_path, rel):
    """PSS/E and CGMES uploads are read from the uploaded bytes; the name a client sends never names a file."""
    from tests.conftest import shared_case

    data = shared_case(rel).read_bytes()
    with TestClient(create_app(tmp_path / "r.duckdb", max_upload_mb=1.0), base_url=BASE) as c:
        name = "../../../etc/" + rel.split("/")[1]  # a path in the name is reduced to its last part
        r = c.post("/api/cases/upload", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 200, r.text
        case = r.json()["case"]
        info = c.get(f"/api/cases/{case}").json()
        assert info["summary"]["buses"] == 14 and len(info["sites"]) >= 10
        hit = c.post("/api/impact", json={"case": case, "damage": [f"site:{info['sites'][0]}"]})
        assert hit.status_code == 200
        # a CGMES set without its SV profile: one clear message naming the upload
        if rel.endswith(".zip"):
            import io
            import zipfile

            buf = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
                for n in zin.namelist():
                    if "_SV_" not in n:
                        zout.writestr(n, zin.read(n))
            bad = c.post("/api/cases/upload", files={"file": ("model.zip", buf.getvalue(), "application/zip")})
            assert bad.status_code == 422 and bad.json()["detail"].startswith("model.zip: the CGMES set lacks the SV")
            # a zip whose header lies about a member's size: the expansion is counted, stopped at 20 x the limit
            from tests.conftest import forge_zip_bomb

            bomb = forge_zip_bomb(shared_case(rel), tmp_path / "bomb.zip", 40_000_000, 100).read_bytes()
            assert len(bomb) < 1_000_000
            bad = c.post("/api/cases/upload", files={"file": ("model.zip", bomb, "application/zip")})
            assert bad.status_code == 422
            assert bad.json()["detail"].startswith("model.zip: the zip expands to more than the limit of 21 MB")


def test_upload_pandapower_json_and_module_allowlist(tmp_path):
    pp = pytest.importorskip("pandapower")
    import pandapower.networks as pn

    text = pp.to_json(pn.case9())
    with TestClient(create_app(tmp_path / "r.duckdb", max_upload_mb=1.0), base_url=BASE) as c:
        r = c.post("/api/cases/upload", files={"file": ("net.json", text.encode(), "application/json")})
        assert r.status_code == 200, r.text
        assert r.json()["summary"]["buses"] == 9
        evil = text.replace('"_module": "pandas.core.frame"', '"_module": "os"', 1)
        bad = c.post("/api/cases/upload", files={"file": ("net.json", evil.encode(), "application/json")})
        assert bad.status_code == 422 and "names Python modules ['os']" in bad.json()["detail"]


def test_token_required_when_set(tmp_path):
    with TestClient(create_app(tmp_path / "r.duckdb", token="s3cret"), base_url=BASE) as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health?token=s3cret").status_code == 200


def test_serve_refuses_public_bind_without_token():
    from typer.testing import CliRunner

    from gridshield.cli import _register_commands, app

    _register_commands()
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert r.exit_code != 0 and "token" in str(r.exception or r.output)


def test_background_run_completes_and_failed_job_reports(client):
    r = client.post("/api/runs", json={"samples": 12, "seed": 3})
    assert r.status_code == 202
    job = r.json()["id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        j = client.get(f"/api/jobs/{job}").json()
        if j["status"] in ("done", "failed"):
            break
        time.sleep(0.3)
    assert j["status"] == "done", j["error"]
    assert j["result"]["samples"] == 12 and j["done"] == 12
    runs = client.get("/api/runs").json()
    assert any(x["run_id"] == j["result"]["run_id"] for x in runs)
    rep = client.get(f"/runs/{j['result']['run_id']}/report")
    assert rep.status_code == 200 and "Distribution of load lost" in rep.text
    bad = client.post("/api/runs", json={"scenario": "grid: synthetic-city\nwaves: []\n", "samples": 5})
    assert bad.status_code == 422
    assert client.post("/api/runs", json={"samples": 5, "sampling": "bogus"}).status_code == 422


def test_background_tail_sampling_run(client):
    job = client.post("/api/runs", json={"samples": 16, "seed": 2, "sampling": "tail"}).json()["id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        j = client.get(f"/api/jobs/{job}").json()
        if j["status"] in ("done", "failed"):
            break
        time.sleep(0.3)
    assert j["status"] == "done", j["error"]
    assert j["result"]["sampling"] == "tail" and j["result"]["samples"] == 16
    assert j["result"]["ci_method"].startswith("tail sampling")


def test_schedule_endpoint(client):
    deficit = [100.0] * 6 + [400.0] * 6
    r = client.post("/api/schedule", json={"case": "synthetic-city", "deficit_mw": deficit, "block_hours": 2,
                                           "start": "2026-02-03T00:00", "tz": "Europe/Kyiv", "split": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["csv"].splitlines()[0].startswith("group")
    assert body["ics"] and all(t.startswith("BEGIN:VCALENDAR") for t in body["ics"].values())
    files = body["files"]
    assert "schedule-2026-02-03.csv" in files and "slots-2026-02-03.json" in files and "hourly-grid-2026-02-03.csv" in files
    assert files["schedule-2026-02-03.csv"].splitlines()[1].split(",")[1].startswith("2026-02-03T00:00:00+02:00")
    assert "1.1" in body["ics"]  # sub-queues as DSOs publish them
    import json as _json

    slots = _json.loads(files["slots-2026-02-03.json"])
    assert slots["groups"]["1.1"]["today"]["date"] == "2026-02-03"
    # default start: the next local midnight
    from gridshield.outages.model import next_local_midnight

    d = client.post("/api/schedule", json={"case": "synthetic-city", "deficit_mw": deficit}).json()
    assert d["start"] == f"{next_local_midnight():%Y-%m-%dT%H:%M}"


def test_load_200_concurrent_impact_requests(tmp_path):
    """200 concurrent requests to the impact endpoint on loopback: no errors; p95 printed."""
    import httpx

    from tests.web_server import running

    app = create_app(tmp_path / "r.duckdb")
    sites = None
    with running(app) as base:
        sites = httpx.get(f"{base}/api/cases/synthetic-city", timeout=60).json()["sites"]
        httpx.post(f"{base}/api/impact", json={"case": "synthetic-city", "damage": []}, timeout=120)  # warm-up

        async def go():
            lim = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=lim) as c:
                async def one(i):
                    t = time.perf_counter()
                    r = await c.post("/api/impact", json={"case": "synthetic-city", "damage": [f"site:{sites[i % len(sites)]}"]})
                    return r.status_code, time.perf_counter() - t
                return await asyncio.gather(*(one(i) for i in range(200)))

        results = asyncio.run(go())
    codes = [c for c, _ in results]
    lat = np.array([t for _, t in results])
    print(f"\nload test: 200 concurrent impact requests, p50 {np.median(lat) * 1e3:.0f} ms, "
          f"p95 {np.quantile(lat, 0.95) * 1e3:.0f} ms, max {lat.max() * 1e3:.0f} ms")
    assert codes.count(200) == 200



def test_impact_with_the_ac_model(client, monkeypatch):
    pytest.importorskip("casadi")
    import gridshield as gs
    import gridshield.web.app as webapp
    from gridshield.impact import assess_damage

    r = client.post("/api/impact", json={"case": "case118", "damage": ["branch:9"], "model": "ac"})
    assert r.status_code == 200, r.text
    body = r.json()["impact"]
    ref = assess_damage(gs.load_case("case118"), ["branch:9"], model="ac")
    assert body["model"] == "ac" and body["served_mw"] == pytest.approx(ref.served_mw, abs=1e-6)
    assert len(body["ac_point"]["bus_vm_pu"]) == 118
    monkeypatch.setattr(webapp, "WEB_AC_MAX_BUSES", 5)
    r = client.post("/api/impact", json={"case": "case9", "damage": [], "model": "ac"})
    assert r.status_code == 422 and "up to 5 buses" in r.json()["detail"]
    assert client.post("/api/impact", json={"case": "case118", "damage": [], "model": "acp"}).status_code == 422
