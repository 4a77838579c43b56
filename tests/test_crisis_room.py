"""What the crisis room shows: district geometry (GeoJSON in and out), the district map's states
against the impact engine, the restoration timeline against the heat module and the plan, the
72-hour board, readable tables and the briefing's statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError
from gridshield.grid.geometry import case_geometry, read_geojson, to_geojson


@pytest.fixture(scope="module")
def city():
    return gs.load_case("synthetic-city")


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs((x * np.roll(y, -1) - np.roll(x, -1) * y).sum()) / 2.0)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# ------------------------------------------------------------------------------------------ geometry
def test_city_districts_tile_the_city_and_hold_their_bus(city):
    """The 20 Voronoi districts cover the elliptic boundary polygon exactly (areas add up), do not
    overlap, and each contains its own district bus (point-in-polygon by ray casting)."""
    from gridshield.grid.builtin import CITY_SEMI_AXES_KM, build_synthetic_city

    geo = case_geometry(city)
    assert len(geo.areas) == 20 and len(geo.sites) == len(city.sites)
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    boundary = np.column_stack([CITY_SEMI_AXES_KM[0] * np.cos(t), CITY_SEMI_AXES_KM[1] * np.sin(t)])
    assert sum(_area(a.rings[0]) for a in geo.areas) == pytest.approx(_area(boundary), rel=1e-4)

    def inside(p, ring):
        x, y = p
        c = False
        for (x1, y1), (x2, y2) in zip(ring, np.roll(ring, -1, axis=0)):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                c = not c
        return c

    for a in geo.areas:
        (b,) = a.bus_rows
        p = (city.buses.x[b], city.buses.y[b])
        assert inside(p, a.rings[0]), a.name
        assert sum(inside(p, o.rings[0]) for o in geo.areas) == 1  # in exactly one district
    # deterministic: a fresh build gives the same polygons
    again = case_geometry(build_synthetic_city())
    assert all(np.array_equal(a.rings[0], b.rings[0]) for a, b in zip(geo.areas, again.areas, strict=True))


def test_geojson_round_trip_through_the_matpower_file(city, tmp_path):
    geo = case_geometry(city)
    gj = to_geojson(geo, city)
    p = tmp_path / "city.geojson"
    p.write_text(json.dumps(gj))
    back = read_geojson(p, city)
    assert back.units == "km" and [a.name for a in back.areas] == [a.name for a in geo.areas]
    for a, b in zip(geo.areas, back.areas, strict=True):
        np.testing.assert_allclose(a.rings[0], b.rings[0][:-1])  # GeoJSON closes the ring
        assert np.array_equal(a.bus_rows, b.bus_rows)
    m = gs.write_matpower(city, tmp_path / "c.m")
    assert len(case_geometry(gs.read_matpower(m)).areas) == 20  # the polygons travel with the .m file


def test_user_geojson_in_degrees_keyed_by_group(tmp_path):
    """A user model brings districts keyed by load group, in longitude/latitude: drawn in km."""
    from gridshield.report.maps import district_states, impact_map_figure

    grid = gs.load_case("synthetic-city")
    feats = []
    for k, g in enumerate(["Q1", "Q2"]):
        x0 = 30.0 + 0.1 * k
        feats.append({"type": "Feature", "properties": {"group": g, "name": f"zone {g}"},
                      "geometry": {"type": "Polygon", "coordinates": [[[x0, 50.0], [x0 + 0.1, 50.0], [x0 + 0.1, 50.1],
                                                                       [x0, 50.1], [x0, 50.0]]]}})
    feats.append({"type": "Feature", "properties": {"site": "S330-North"},
                  "geometry": {"type": "Point", "coordinates": [30.1, 50.12]}})
    geo = read_geojson({"type": "FeatureCollection", "features": feats}, grid)
    assert geo.units == "deg" and [a.group for a in geo.areas] == ["Q1", "Q2"]
    x, _ = geo.to_km(np.array([30.0, 30.1]), np.array([50.05, 50.05]))
    assert x[1] - x[0] == pytest.approx(0.1 * 111.32 * math.cos(math.radians(50.06)), rel=1e-3)  # ~7.15 km
    st = district_states(grid, geo)
    q1 = grid.loads.group == "Q1"
    assert st[0].demand_mw == pytest.approx(float(grid.loads.p_mw[q1].sum())) and st[0].state == "supplied"
    fig = impact_map_figure(grid, geojson={"type": "FeatureCollection", "features": feats})
    assert [t.meta["name"] for t in fig.data if (t.meta or {}).get("kind") == "district"] == ["zone Q1", "zone Q2"]


@pytest.mark.parametrize("bad, msg", [
    ({"type": "Feature"}, "FeatureCollection"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"buses": ["bus:zz"]},
      "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}}]}, "bus:zz"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"group": "Q1"},
      "geometry": {"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1]]]}}]}, "longitude/latitude"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"site": "nowhere"},
      "geometry": {"type": "Point", "coordinates": [0, 0]}}]}, "nowhere"),
    ({"type": "FeatureCollection", "features": []}, "no feature"),
])
def test_geojson_errors_name_the_feature(city, bad, msg):
    with pytest.raises(GridshieldError, match=msg):
        read_geojson(bad, city)


def test_geojson_size_is_bounded_before_parsing(city, monkeypatch):
    import gridshield.grid.geometry as geom

    monkeypatch.setattr(geom, "MAX_GEOJSON_BYTES", 100)
    with pytest.raises(GridshieldError, match="limit"):
        read_geojson(b" " * 101, city)
    monkeypatch.setattr(geom, "MAX_FEATURES", 1)
    with pytest.raises(GridshieldError, match="features"):
        read_geojson({"type": "FeatureCollection", "features": [{}, {}]}, city)


# ------------------------------------------------------------------------------------------ map
def test_district_map_states_match_the_impact_engine(city):
    """dark / partly served / supplied per district from the served MW of its loads; struck sites
    are marked; the heat layer covers the districts whose heat is off."""
    from gridshield.report.maps import district_map_figure, district_states, struck_sites, supply_state

    dmg = ["site:S110-Fairmont", "load:Ashgrove-industrial"]
    res = gs.assess_damage(city, dmg)
    heat = gs.assess_heat(city, res, damage=dmg, temperature_c=-10.0, hours=96)
    geo = case_geometry(city)
    states = {s.name: s for s in district_states(city, geo, res, heat)}
    for a in geo.areas:
        m = np.isin(city.loads.bus, a.bus_rows)
        dem = float(city.loads.p_mw[m].sum())
        srv = float(np.asarray(res.load_served_mw)[m].sum())
        assert states[a.name].served_mw == pytest.approx(srv) and states[a.name].state == supply_state(dem, srv)
    assert states["Fairmont"].state == "dark" and states["Pinecrest"].state == "dark"
    assert states["Ashgrove"].state == "partly served" and 0 < states["Ashgrove"].served_pct < 100
    assert "Fairmont city hospital" in states["Fairmont"].critical_off
    assert states["Fairmont"].heat_off and states["Fairmont"].hours_to_12c_h == pytest.approx(
        float(heat.hours_to_12c_h[list(heat.district_name).index("Fairmont heat district")]))
    assert struck_sites(city, dmg) == {"S110-Fairmont"}
    fig = district_map_figure(city, geo, impact=res, heat=heat, damaged_ids=dmg)
    dark = {t.meta["name"] for t in fig.data if (t.meta or {}).get("kind") == "district" and t.meta["state"] == "dark"}
    assert dark == {"Fairmont", "Pinecrest"}
    assert {t.meta["id"] for t in fig.data if (t.meta or {}).get("kind") == "heat"} == {
        "district:Fairmont", "district:Pinecrest"}
    struck = [t for t in fig.data if (t.meta or {}).get("kind") == "sites" and t.meta["state"] == "struck"]
    assert [list(t.customdata) for t in struck] == [["site:S110-Fairmont"]]
    assert any(a.text.endswith(" km") for a in fig.layout.annotations)  # the scale bar


def test_scale_bar_is_a_round_length():
    from gridshield.report.maps import scale_bar_km

    assert [scale_bar_km(w) for w in (34.0, 9.0, 120.0, 0.7)] == [5.0, 1.0, 20.0, 0.1]


def test_network_figure_marks_partly_served_buses(case9):
    from gridshield.report.plots import STATE_COLORS, network_figure

    lost = np.zeros(len(case9.loads))
    lost[0] = 10.0
    fig = network_figure(case9, load_lost_mw=lost)
    partly = [t for t in fig.data if t.name == "buses: partly served"][0]
    assert partly.marker.color == STATE_COLORS["partly served"]
    assert list(partly.customdata) == [case9.buses.id[case9.loads.bus[0]]]


# ------------------------------------------------------------------------------------------ timeline and board
@pytest.fixture(scope="module")
def story(city):
    from gridshield.heat import scale_for_temperature
    from gridshield.report.briefing import strike_story

    g = scale_for_temperature(city, -10.0)
    return g, strike_story(g, ["site:GTP-Delta", "site:S110-Fairmont"], label="test strike",
                           strike_time="2026-01-12T02:00", temperature_c=-10.0, crews=6, supply_mw=2100.0,
                           restore_time_limit_s=3.0)


def test_timeline_matches_the_plan_and_the_heat_module(story):
    """Served MW at each change point equals the plan's curve; without repairs in the window,
    people below 12 °C equal assess_heat's series; every critical load lost comes back when the
    impact engine says it is fully served with the remaining damage."""
    g, s = story
    tl, plan = s.timeline, s.plan
    np.testing.assert_allclose(tl.served_mw, plan.served_mw, rtol=1e-9, atol=1e-6)
    first_repair = float(plan.end_h.min())
    hh = np.arange(0, int(first_repair))
    np.testing.assert_allclose(tl.people_below_12c(hh), s.heat.people_below_12c_t[hh])
    np.testing.assert_allclose(tl.people_without_heat([0.0]), [s.heat.people_without_heat])
    assert tl.people_without_heat([plan.makespan_h + 1])[0] == 0
    for lid in s.impact.critical_lost:
        r = g.loads.index[lid]
        back = tl.load_back_h[r]
        assert np.isfinite(back) and back in set(plan.time_h)
        rem = [t for t, e in zip(plan.task_id, plan.end_h, strict=True) if e > back + 1e-9]
        res = gs.assess_damage(g, rem)
        assert res.load_served_mw[r] >= g.loads.p_mw[r] - 1e-6
        earlier = [t for t, e in zip(plan.task_id, plan.end_h, strict=True) if e > back - 1e-6]
        assert gs.assess_damage(g, earlier).load_served_mw[r] < g.loads.p_mw[r] - 1e-6


def test_board_rows_share_the_clock(story):
    from gridshield.report.board import board_figure

    g, s = story
    fig = board_figure(s.strike_time, plan=s.plan, timeline=s.timeline, heat=s.heat, schedule=s.schedule,
                       impact=s.impact)
    assert [fig.layout[f"xaxis{k}"].matches for k in ("", "2", "3")] == ["x4", "x4", "x4"]
    assert fig.layout.xaxis4.type == "date" and pd.Timestamp(fig.layout.xaxis4.range[0]) == pd.Timestamp("2026-01-12 02:00")
    bars = [t for t in fig.data if (t.meta or {}).get("kind") == "repair"]
    assert len(bars) == len(s.plan.task_id)
    starts = sorted(pd.Timestamp(b.base[0]) for b in bars)
    assert starts[0] == pd.Timestamp("2026-01-12 02:00")
    out = [t for t in fig.data if (t.meta or {}).get("kind") == "outages"]
    assert s.schedule is not None and len(out) == 1
    assert pd.Timestamp(out[0].x[0]) == pd.Timestamp("2026-01-13 00:30")  # next midnight, step centre
    with pytest.raises(GridshieldError, match="board hours"):
        board_figure("2026-01-12", hours=10_000)


# ------------------------------------------------------------------------------------------ briefing
def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    from gridshield.report.risk import wilson_ci

    for k, n in ((621, 1000), (0, 40), (40, 40), (7, 13)):
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_ci(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_readable_tables():
    from gridshield.report.tables import readable

    df = pd.DataFrame({"n": [147610.0, 3.0], "h": [np.inf, 43.44], "b": [True, False], "p": [0.081, 1.0]},
                      index=["a", "b"])
    t = readable(df, [("n", "people", "int"), ("h", "hours to 12 °C", "h"), ("b", "dark", "yesno"),
                      ("p", "P(dark)", "share")], horizon_h=96, index_as="district")
    assert t.to_dict("list") == {"people": ["147,610", "3"], "hours to 12 °C": ["> 96 h", "43.4"],
                                 "dark": ["yes", "no"], "P(dark)": ["8 %", "100 %"]}
    assert isinstance(t.index, pd.RangeIndex)


def test_briefing_content(story, tmp_path):
    from gridshield.report.briefing import morning_briefing, schedule_lines

    g, s = story
    rep = morning_briefing(g, s, title="test briefing", inputs={"seed": 3})
    html = rep.write(tmp_path / "b.html").read_text()
    for lid in s.impact.critical_lost:
        assert str(g.loads.name[g.loads.index[lid]]) in html
    assert "test strike; of" in html and "What to do next" in html and "Repair first" in html
    assert "The next 72 hours" in html and "<th>seed</th><td>3</td>" in html
    assert ">True<" not in html and ">False<" not in html and ">inf<" not in html
    lines = schedule_lines(s.schedule)
    assert len(lines) == int((~s.schedule.exempt).sum())
    assert all(x[2] == "-" or x[2][:3] in ("Mon", "Tue", "Wed", "Thu") for x in lines)


def test_cli_map_and_board(tmp_path, capsys):
    from gridshield.cli import main

    main(["map", "synthetic-city", "-d", "site:S110-Fairmont", "--out", str(tmp_path / "m.html"),
          "--export-geojson", str(tmp_path / "c.geojson")])
    out = capsys.readouterr().out
    assert "Fairmont city hospital" in out and "dark" in out
    assert "<script src=\"http" not in (tmp_path / "m.html").read_text()
    gj = json.loads((tmp_path / "c.geojson").read_text())
    assert sum(f["properties"]["kind"] == "district" for f in gj["features"]) == 20
    main(["board", "synthetic-city", "-d", "site:S110-Fairmont", "--strike-time", "2026-01-12T02:00",
          "--out", str(tmp_path / "b.html")])
    assert "back after 96 h" in capsys.readouterr().out and (tmp_path / "b.html").stat().st_size > 1_000_000
    with pytest.raises(SystemExit) as ei:
        main(["board", "synthetic-city", "-d", "site:S110-Fairmont", "--crews", "0"])
    assert ei.value.code == 2 and "--crews 0" in capsys.readouterr().err


def test_site_table_coordinates_place_the_buses(case9):
    """Substation coordinates from a site table (as CGMES/PSS/E imports fill it) become site points
    in degrees and bus positions in km when the buses have no x/y."""
    from gridshield.grid.model import Sites
    from gridshield.report.plots import layout_xy

    sub = [f"S{i % 3}" for i in range(len(case9.buses))]
    g = case9.replace(buses=case9.buses.replace(substation=sub),
                      site_table=Sites(id=["site:S0", "site:S1", "site:S2"], lon_deg=[30.0, 30.1, 30.0],
                                       lat_deg=[50.0, 50.0, 50.1]))
    geo = case_geometry(g)
    assert geo.units == "deg" and geo.sites["S1"] == (30.1, 50.0) and not geo.areas
    x, y = layout_xy(g)
    s0, s1, s2 = (np.flatnonzero(np.array(sub) == s)[0] for s in ("S0", "S1", "S2"))
    assert x[s1] - x[s0] == pytest.approx(0.1 * 111.32 * math.cos(math.radians(50.0333)), rel=1e-3)
    assert y[s2] - y[s0] == pytest.approx(0.1 * 110.574, rel=1e-6)


def test_report_model_ac_names_its_model(tmp_path, capsys):
    """``report --model ac``: the strike and its repair plan come from the AC load delivery and the
    briefing says so next to the Monte Carlo numbers (DC); a grid above MAX_AC_BUSES is refused
    before the run."""
    from gridshield.cli import main
    from gridshield.report.build import check_load_model

    out = tmp_path / "r.html"
    main(["report", str(EXAMPLES / "case118-missiles.yaml"), "--samples", "40", "--model", "ac",
          "--out", str(out)])
    html = out.read_text()
    assert "repair plan: AC load delivery" in html and "(DC load delivery)" in html
    big = gs.load_case("case9241pegase")
    with pytest.raises(GridshieldError, match="3,000|3000"):
        check_load_model(big, "ac")
    with pytest.raises(SystemExit) as ei:
        main(["report", str(EXAMPLES / "case118-missiles.yaml"), "--model", "xx"])
    assert ei.value.code == 2 and "--model xx" in capsys.readouterr().err
