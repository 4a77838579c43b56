"""District heating: cool-down against the closed form and an ODE solver, DOMAIN.md calibration
points, heat-loss logic on crafted damages, load scaling, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gridshield as gs
from gridshield.heat import (
    BUILDING_TAU_H,
    HeatNetwork,
    assess_heat,
    crossing_hours,
    heat_off,
    hours_to,
    indoor_temperature,
    load_factor,
    scale_for_temperature,
    simulate,
)


@pytest.fixture(scope="module")
def city() -> gs.Grid:
    return gs.load_case("synthetic-city")


@pytest.fixture(scope="module")
def net(city) -> HeatNetwork:
    return HeatNetwork.from_grid(city)


# -- cool-down ---------------------------------------------------------------------------------
def test_constant_outdoor_equals_closed_form():
    tau = np.array(list(BUILDING_TAU_H.values()))
    temps = simulate(tau, -10.0, 120, start_c=20.0)
    t = np.arange(121.0)
    for j, tj in enumerate(tau):
        np.testing.assert_allclose(temps[:, j], indoor_temperature(t, tj, -10.0, 20.0), rtol=0, atol=1e-10)
        # T(t) = T_out + (T0 - T_out) exp(-t/tau), written out by hand at t = 50 h
        assert temps[50, j] == pytest.approx(-10.0 + 30.0 * math.exp(-50.0 / tj), abs=1e-10)
    for thr in (12.0, 5.0):
        got = crossing_hours(tau, -10.0, 2000, thr, start_c=20.0)
        want = [hours_to(thr, tj, -10.0, 20.0) for tj in tau]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert want[0] == pytest.approx(tau[0] * math.log(30.0 / (thr + 10.0)), rel=1e-12)


def test_hourly_series_matches_ode_solver():
    from scipy.integrate import solve_ivp

    rng = np.random.default_rng(3)
    series = -8.0 + 6.0 * np.sin(np.arange(48) * 2 * np.pi / 24) + rng.normal(0, 1.0, 48)
    tau = np.array([BUILDING_TAU_H["house"], BUILDING_TAU_H["panel"]])
    temps = simulate(tau, series, 48, start_c=20.0)
    for j, tj in enumerate(tau):
        sol = solve_ivp(lambda t, y, tj=tj: (series[min(int(t), 47)] - y) / tj, (0, 48), [20.0],
                        t_eval=np.arange(49.0), rtol=1e-11, atol=1e-11, max_step=0.05)
        np.testing.assert_allclose(temps[:, j], sol.y[0], atol=1e-6)
    # crossing time inside an hour: exact for the piecewise-constant series
    h = crossing_hours(tau[:1], series, 48, 12.0, 20.0)[0]
    k = int(h)
    tout = series[k]
    tk = temps[k, 0]
    assert tout + (tk - tout) * math.exp(-(h - k) / tau[0]) == pytest.approx(12.0, abs=1e-9)


def test_never_below_when_outdoor_warmer():
    assert hours_to(12.0, 100.0, 15.0) == math.inf
    assert np.isinf(crossing_hours([100.0], 15.0, 48, 12.0)).all()


# -- calibration (DOMAIN.md section 4) -----------------------------------------------------------
def test_calibration_points():
    tau = BUILDING_TAU_H
    # older panel blocks hold about +10 °C for 2-4 days at about -10 °C (inkorr.com)
    h10 = hours_to(10.0, tau["panel"], -10.0, 20.0)
    assert 48.0 <= h10 <= 96.0 and h10 == pytest.approx(72.0, abs=0.5)
    # after 2 days at -12 °C: uninsulated 4 °C, insulated masonry 15-17 °C (baumit.com)
    assert indoor_temperature(48.0, tau["uninsulated"], -12.0, 20.0) == pytest.approx(4.0, abs=0.25)
    t_mas = float(indoor_temperature(48.0, tau["masonry_insulated"], -12.0, 20.0))
    assert 15.0 <= t_mas <= 17.0 and t_mas == pytest.approx(16.0, abs=0.25)
    # typical houses stay warm (>= 10 °C) 8-12 h; 1-3 °F/h at a 40 °F gap (itishouse; storm-prep)
    assert 8.0 <= hours_to(10.0, tau["house"], -10.0, 20.0) <= 12.0
    rate_f_per_h = (40.0 / 1.8) / tau["house"] * 1.8
    assert 1.0 <= rate_f_per_h <= 3.0


# -- heat-loss logic ------------------------------------------------------------------------------
def _districts_of(net, source=None, pump=None):
    out = set()
    for k, d in enumerate(net.district_id):
        if source is not None and net.source_id[net.district_source[k]] == source:
            out.add(d)
        if pump is not None and net.pump_id[net.district_pump[k]] == pump:
            out.add(d)
    return out


def test_network_read(net, city):
    assert len(net.district_id) == 20
    assert {k for k in net.source_kind} == {"chp", "boiler"}
    assert net.people.sum() == pytest.approx(sum(
        sum(float(v) for v, c in zip(r, city.extra_tables["gs_heat_districts"].columns, strict=True)
            if c.startswith("people_")) for r in city.extra_tables["gs_heat_districts"].rows))
    # every pump and boiler is a critical load at its bus
    for j in range(len(net.pump_id)):
        assert city.loads.priority[net.pump_load[j]] == "critical"
        assert city.loads.bus[net.pump_load[j]] == net.pump_bus[j]


def test_no_damage_no_heat_loss(city, net):
    res = assess_heat(city, None, temperature_c=-10.0, hours=24)
    assert not res.district_off.any() and res.people_without_heat == 0
    assert res.people_below_12c_t.max() == 0.0


def test_chp_plant_hit(city, net):
    res = assess_heat(city, ["site:CHP-Aurora"], temperature_c=-10.0, hours=48)
    assert set(res.districts_off) == _districts_of(net, source="heat:CHP-Aurora")
    assert res.sources_lost == ("heat:CHP-Aurora",)
    assert all("CHP-Aurora" in r for r, off in zip(res.reason, res.district_off, strict=True) if off)
    want = sum(net.people[k] for k, d in enumerate(net.district_id) if d in set(res.districts_off))
    assert res.people_without_heat == int(round(want))
    # people below 12 °C over time, recomputed by hand from the closed form per class
    off = res.district_off
    for t in (0, 10, 30, 48):
        manual = 0.0
        for j, c in enumerate(net.classes):
            if indoor_temperature(t, BUILDING_TAU_H[c], -10.0, 20.0) < 12.0:
                manual += net.people_by_class[off, j].sum()
        assert res.people_below_12c_t[t] == pytest.approx(manual)


def test_all_units_of_a_chp_hit(city, net):
    off = heat_off(city, ["gen:CHP-Boreas-G1", "gen:CHP-Boreas-G2"], network=net)
    assert {d for d, o in zip(net.district_id, off, strict=True) if o} == _districts_of(net, source="heat:CHP-Boreas")
    off1 = heat_off(city, ["gen:CHP-Boreas-G1"], network=net)
    assert not off1.any()


def test_pump_load_hit_and_dark_bus(city, net):
    off = heat_off(city, ["load:Dockside-heat-pumps"], network=net)
    assert {d for d, o in zip(net.district_id, off, strict=True) if o} == _districts_of(net, pump="heat:PS-Dockside")
    # a dark boiler-house bus takes its district's heat; building_pumps decides for a dark district bus
    k = next(i for i, s in enumerate(net.source_kind) if s == "boiler")
    on = np.ones(len(city.buses), bool)
    on[net.source_bus[k]] = False
    off = heat_off(city, None, bus_energised=on, network=net)
    assert {d for d, o in zip(net.district_id, off, strict=True) if o} == _districts_of(net, source=net.source_id[k])
    # a dark district bus whose source and pump are elsewhere and powered
    d = next(i for i in range(len(net.district_id))
             if net.pump_bus[net.district_pump[i]] != net.district_bus[i])
    on = np.ones(len(city.buses), bool)
    on[net.district_bus[d]] = False
    assert heat_off(city, None, bus_energised=on, network=net).tolist() == [i == d for i in range(20)]
    assert not heat_off(city, None, bus_energised=on, network=net, building_pumps=False).any()
    # a pump served below 99 % of its demand is lost
    served = city.loads.p_mw.copy()
    served[net.pump_load[0]] *= 0.5
    off = heat_off(city, None, load_served_mw=served, network=net)
    assert {x for x, o in zip(net.district_id, off, strict=True) if o} == _districts_of(net, pump=net.pump_id[0])


def test_substation_hit_darkens_pumps(city, net):
    res = assess_heat(city, "site:S110-Dockside", temperature_c=-10.0, hours=24)
    expect = _districts_of(net, pump="heat:PS-Dockside") | {"heat:HD-Dockside", "heat:HD-Northgate"}
    assert set(res.districts_off) == expect
    assert res.pumps_lost == ("heat:PS-Dockside",)


def test_result_outputs(city, tmp_path):
    res = assess_heat(city, ["site:CHP-Cedar"], temperature_c=-15.0, hours=72)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["people_without_heat"] == res.people_without_heat > 0
    fr = res.to_frame()
    assert len(fr) == 20 and int(fr["off"].sum()) == int(res.district_off.sum())
    # district hours: the people-weighted mean indoor temperature crosses 12 °C then
    k = int(np.flatnonzero(res.district_off)[0])
    h = float(res.hours_to_12c_h[k])
    net = HeatNetwork.from_grid(city)
    w = net.people_by_class[k] / net.people[k]
    mean = sum(w[j] * indoor_temperature(h, BUILDING_TAU_H[c], -15.0, 20.0) for j, c in enumerate(net.classes))
    assert mean == pytest.approx(12.0, abs=1e-6)
    assert res.heat_demand_total_mw_th == pytest.approx(net.ua_mw_th_per_k.sum() * 33.0)


def test_bad_input(city, case9):
    with pytest.raises(gs.GridshieldError, match="gs_heat_sources"):
        assess_heat(case9, None)
    with pytest.raises(gs.GridshieldError, match="hourly series"):
        assess_heat(city, None, temperature_c=[-5.0, -6.0], hours=24)
    with pytest.raises(gs.UnknownAssetError):
        assess_heat(city, ["site:CHP-Nowhere"])


# -- electric load vs temperature ------------------------------------------------------------------
def test_scale_for_temperature(city):
    assert scale_for_temperature(city, -5.0) is city
    same = scale_for_temperature(city, -5.0, heating_share={"residential": 0.4})
    np.testing.assert_allclose(same.loads.p_mw, city.loads.p_mw, rtol=1e-15)
    cold = scale_for_temperature(city, -10.0)
    assert scale_for_temperature(cold, -10.0) is cold
    twice = scale_for_temperature(scale_for_temperature(city, -20.0), -10.0)
    np.testing.assert_allclose(twice.loads.p_mw, cold.loads.p_mw, rtol=1e-12)
    res = city.loads.priority == "residential"
    np.testing.assert_allclose(cold.loads.p_mw[res], city.loads.p_mw[res] * (0.7 + 0.3 * 28.0 / 23.0), rtol=1e-12)
    np.testing.assert_allclose(cold.loads.q_mvar / np.where(city.loads.q_mvar == 0, 1, city.loads.q_mvar),
                               cold.loads.p_mw / city.loads.p_mw * (city.loads.q_mvar != 0), rtol=1e-12)
    assert cold.loads.p_mw.sum() > city.loads.p_mw.sum()
    assert load_factor(25.0, -5.0, 0.3) == pytest.approx(0.7)
    assert city.loads.p_mw.sum() == pytest.approx(2442.299, abs=0.01)  # the grid itself is unchanged
    with pytest.raises(gs.GridshieldError, match="reference_c"):
        scale_for_temperature(gs.load_case("case9"), -10.0)


def test_cli_heat(tmp_path, capsys):
    from gridshield.cli import main

    out = tmp_path / "heat.json"
    main(["heat", "synthetic-city", "--damage", "site:CHP-Aurora", "--temperature", "-10", "--hours", "48",
          "--out", str(out)])
    d = json.loads(out.read_text())
    assert d["hours"] == 48 and d["people_without_heat"] > 0
    assert "heat:CHP-Aurora" in d["sources_lost"]
    dfile = tmp_path / "damage.yaml"
    dfile.write_text("damage:\n  - site:CHP-Cedar\n")
    main(["heat", "synthetic-city", "--damage", str(dfile), "--damage", "load:Dockside-heat-pumps",
          "--out", str(tmp_path / "y.json")])
    d3 = json.loads((tmp_path / "y.json").read_text())
    assert d3["damage"] == ["site:CHP-Cedar", "load:Dockside-heat-pumps"]
    assert d3["sources_lost"] == ["heat:CHP-Cedar"] and d3["pumps_lost"] == ["heat:PS-Dockside"]
    series = tmp_path / "t.csv"
    series.write_text("temperature_c\n" + "\n".join(str(-5 - i * 0.2) for i in range(48)))
    main(["heat", "synthetic-city", "--damage", "site:CHP-Aurora", "--series", str(series), "--hours", "48",
          "--out", str(tmp_path / "s.json")])
    d2 = json.loads((tmp_path / "s.json").read_text())
    assert len(d2["temperature_c"]) == 48


@pytest.mark.parametrize("t", [float("nan"), float("inf"), "abc", 500.0])
def test_scale_for_temperature_rejects_non_finite(t):
    with pytest.raises(gs.GridshieldError, match="finite outdoor temperature"):
        gs.scale_for_temperature(gs.load_case("synthetic-city"), t)
