"""`gridshield demo` end to end, with a small sample count: files written, numbers consistent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gridshield as gs
from gridshield.demo import run_demo


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out=out, samples=40, seed=19, restore_time_limit_s=2.0)
    return out, summary


def test_demo_writes_its_outputs(demo_out):
    out, summary = demo_out
    need = {"summary.json", "strike.json", "heat.json", "heat_districts.parquet", "synthetic-city.m"}
    optional = {
        "risk": {"risk.json", "risk_samples.parquet"},
        "restoration": {"restoration.json", "restoration_schedule.parquet", "resilience_curve.parquet"},
        "rotating outages": {"outage_inputs.json"},
        "report": {"report.html"},
    }
    files = {p.name for p in out.iterdir()}
    assert need <= files
    for part, names in optional.items():
        if part in summary["parts_ran_s"]:
            assert names <= files, part
    if "report" in summary["parts_ran_s"]:
        html = (out / "report.html").read_text()
        # the morning briefing: cards that say what they describe, the critical loads by name, next steps
        assert "What to do next" in html and "The next 72 hours" in html and "Critical loads lost" in html
        assert all(d in html for d in summary["strike"]["damage"])
        assert all(name in html for name in summary["strike"]["critical_lost"])
        assert "35 drones launched, 30 shot down (as reported)" in html and "mean of 40 sampled waves" in html
        assert "scenario sha256" in html and "grid sha256" in html and "gridshield version" in html
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["strike"]["damage"] == summary["strike"]["damage"]
    assert set(on_disk["files"]) == files
    # every optional part whose module is installed ran (none was skipped for an error)
    assert not any("Error" in why for why in on_disk["parts_skipped"].values()), on_disk["parts_skipped"]


def test_demo_strike_matches_independent_assessment(demo_out):
    out, summary = demo_out
    st = summary["strike"]
    assert len(st["damage"]) >= 1 and st["lost_mw"] > 0
    city = gs.read_matpower(out / "synthetic-city.m")  # the -10 °C city the demo used
    base = gs.load_case("synthetic-city")
    assert city.loads.p_mw.sum() > base.loads.p_mw.sum()
    res = gs.assess_damage(city, st["damage"])
    assert res.lost_mw == pytest.approx(st["lost_mw"], rel=1e-6, abs=1e-6)
    assert res.customers_affected == st["customers_affected"]
    heat = gs.assess_heat(city, st["damage"], temperature_c=-10.0, hours=96)
    assert heat.people_without_heat == st["people_without_heat"]
    assert list(heat.districts_off) == st["heat_districts_off"]
    frame = pd.read_parquet(out / "heat_districts.parquet")
    assert int(frame["off"].sum()) == len(st["heat_districts_off"])
    # dark districts: their 10 kV bus is not energised
    dark = {str(city.buses.name[b]).removesuffix(" 10 kV") for b in np.flatnonzero(~res.bus_energised)
            if city.buses.base_kv[b] == 10.0}
    assert dark == set(st["districts_dark"])


def test_demo_risk_and_restoration(demo_out):
    out, summary = demo_out
    if "risk" in summary["parts_ran_s"]:
        risk = json.loads((out / "risk.json").read_text())
        assert risk["samples"] == 40
        samples = pd.read_parquet(out / "risk_samples.parquet")
        assert risk["lost_mw"]["mean"] == pytest.approx(samples["lost_mw"].mean(), rel=1e-9)
    if "risk: heat" in summary["parts_ran_s"]:
        heat = pd.read_parquet(out / "risk_heat.parquet")
        samples = pd.read_parquet(out / "risk_samples.parquet")
        city = gs.read_matpower(out / "synthetic-city.m")
        hit = samples.index[samples["damage"].str.len() > 0][:3]
        assert len(hit) > 0
        for i in hit:
            ids = samples.loc[i, "damage"].split(";")
            want = gs.assess_heat(city, ids, temperature_c=-10.0, hours=24).people_without_heat
            assert heat.loc[i, "people_without_heat"] == pytest.approx(want)
        assert summary["risk"]["heat"]["people without heat, mean"] == pytest.approx(heat["people_without_heat"].mean())
    if "restoration" in summary["parts_ran_s"]:
        plan = json.loads((out / "restoration.json").read_text())
        assert plan["damage"] == summary["strike"]["damage"] or set(plan["damage"]) == set(summary["strike"]["damage"])
        curve = pd.read_parquet(out / "resilience_curve.parquet")
        assert curve["served_pct"].iloc[-1] >= curve["served_pct"].iloc[0]
        assert plan["comparison"]["naive"]["weighted_ens_mwh"] >= plan["weighted_ens_mwh"] - 1e-6


def test_demo_cli(tmp_path):
    from gridshield.cli import main

    main(["demo", "--out", str(tmp_path / "d"), "--samples", "0"])
    s = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert s["risk"] is None and s["parts_skipped"]["risk"] == "samples = 0"
    assert (tmp_path / "d" / "strike.json").is_file()


def test_builtin_scenario_matches_the_example():
    from pathlib import Path

    import yaml

    from gridshield.demo import BUILTIN_SCENARIO
    from gridshield.threat.scenario import scenario_from_dict

    ex = Path(__file__).resolve().parents[1] / "examples" / "dec-19-drones.yaml"
    a = scenario_from_dict(yaml.safe_load(ex.read_text())).model_dump(mode="json")
    b = scenario_from_dict(BUILTIN_SCENARIO).model_dump(mode="json")
    assert a["waves"] == b["waves"]  # the threat itself
    assert a["grid"]["case"] == b["grid"]["case"] == "synthetic-city"


def test_demo_bad_options(tmp_path):
    with pytest.raises(gs.GridshieldError, match="crews"):
        run_demo(out=tmp_path, crews=0)
    with pytest.raises(gs.GridshieldError, match="samples"):
        run_demo(out=tmp_path, samples=-1)


def test_demo_tells_the_wave_in_numbers(demo_out):
    """Launched 35, shot down 30 as reported; the posterior Beta(31, 6) and its 95 % interval; what got
    through in the sampled strike equals a fresh draw of the same sample."""
    from gridshield.threat.sampling import compile_threat
    from gridshield.threat.scenario import load_scenario

    out, summary = demo_out
    (w,) = summary["strike"]["waves"]
    assert w["launched"] == 35 and w["reported"] == {"shot_down": 30, "launched": 35}
    assert w["posterior"] == "Beta(31, 6)" and w["rate_mean"] == pytest.approx(31 / 37)
    draws = np.random.default_rng(0).beta(31, 6, size=400_000)  # independent: quantiles of draws
    np.testing.assert_allclose(w["rate_ci95"], np.quantile(draws, [0.025, 0.975]), atol=2e-3)
    city = gs.read_matpower(out / "synthetic-city.m")
    sc = load_scenario(json.loads((out / "summary.json").read_text())["scenario"])
    d = compile_threat(sc, city).draw(summary["seed"], summary["strike"]["sample"])
    assert (w["intercepted"], w["got_through"]) == (d.intercepted[0], d.hits[0]) and d.hits[0] == 35 - d.intercepted[0]
    assert tuple(summary["strike"]["damage"]) == d.damage
