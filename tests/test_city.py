"""The built-in synthetic city: deterministic, AC-feasible, every site a damage target, exact .m round trip."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.grid.builtin import QUEUES, build_synthetic_city


@pytest.fixture(scope="module")
def city() -> gs.Grid:
    return gs.load_case("synthetic-city")


def test_registered_and_deterministic(city):
    assert "synthetic-city" in gs.available_cases()
    again = build_synthetic_city()
    assert again is not city
    assert city.equals(again)
    assert gs.load_case("synthetic-city") is city  # cached: grids are immutable
    import gridshield.cases

    assert gridshield.cases.load("synthetic-city") is city


def test_city_shape(city):
    s = city.summary()
    assert 2000.0 <= s["load_mw"] <= 3000.0
    kv = city.buses.base_kv
    ring = [k for k in city.sites if k.startswith("S330-")]
    assert 4 <= len(ring) <= 6
    s110 = [k for k in city.sites if k.startswith("S110-")]
    assert len(s110) >= 5
    district_buses = np.flatnonzero(kv == 10.0)
    assert 15 <= district_buses.size <= 25
    fuels = city.gens.fuel.tolist()
    assert "import" in fuels
    chp_sites = {city.buses.substation[city.gens.bus[i]] for i, f in enumerate(fuels) if f == "chp"}
    assert 2 <= len(chp_sites) <= 3
    # imports: the external grid on a bus outside the city (no site) tied to a ring substation
    br = city.branches
    for i, f in enumerate(fuels):
        if f == "import":
            b = city.gens.bus[i]
            assert city.buses.substation[b] == ""
            ends = np.r_[br.to_bus[br.from_bus == b], br.from_bus[br.to_bus == b]]
            assert {city.buses.substation[e] for e in ends.tolist()} <= set(ring) and ends.size == 2
    # at least 6 queues, and each district's residential load is split across all of them
    ld = city.loads
    assert set(QUEUES) <= set(ld.group.tolist())
    for b in district_buses:
        res = (ld.bus == b) & (ld.priority == "residential")
        assert set(ld.group[res].tolist()) == set(QUEUES)
    crit = ld.priority == "critical"
    names = " ".join(ld.name[crit].tolist())
    assert "hospital" in names and "water" in names and "heat pumping" in names
    assert ld.customers.sum() > 1_000_000
    assert np.all(np.isfinite(city.buses.x)) and np.all(np.isfinite(city.buses.y))
    # ~3 M people in the heat districts
    hd = city.extra_tables["gs_heat_districts"]
    people = sum(sum(float(v) for v, c in zip(r, hd.columns, strict=True) if c.startswith("people_")) for r in hd.rows)
    assert 2.5e6 <= people <= 3.5e6


def _pypower_solution(grid):
    from pypower.api import ppoption, runpf

    from gridshield.grid.ppc import to_ppc

    res, ok = runpf(to_ppc(grid), ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10))
    assert ok == 1
    return res


def test_intact_city_is_ac_feasible(city):
    res = _pypower_solution(city)
    vm = res["bus"][:, 7]
    assert vm.min() >= 0.95 - 1e-9 and vm.max() <= 1.05 + 1e-9
    br = res["branch"]
    s = np.maximum(np.hypot(br[:, 13], br[:, 14]), np.hypot(br[:, 15], br[:, 16]))
    assert np.all(s <= city.branches.rate_a_mva), "a branch is above its rate A"
    gen = res["gen"]
    assert np.all(gen[:, 2] <= city.gens.q_max_mvar + 1e-6) and np.all(gen[:, 2] >= city.gens.q_min_mvar - 1e-6)
    slack = gen[0, 1]
    assert 0.0 <= slack <= city.gens.p_max_mw[0]


def test_intact_city_solve_ac_matches_pypower(city):
    ac = gs.solve_ac(city)
    assert ac.converged
    assert ac.vm_pu.min() >= 0.95 and ac.vm_pu.max() <= 1.05 + 1e-9
    assert np.nanmax(ac.loading_pct) <= 100.0
    ref = _pypower_solution(city)
    np.testing.assert_allclose(ac.vm_pu, ref["bus"][:, 7], atol=1e-6)
    np.testing.assert_allclose(ac.p_from_mw, ref["branch"][:, 13], atol=1e-4)


def test_city_at_minus_10_is_ac_feasible(city):
    from gridshield.heat import scale_for_temperature

    cold = scale_for_temperature(city, -10.0)
    assert cold.loads.p_mw.sum() > city.loads.p_mw.sum()
    res = _pypower_solution(cold)
    vm = res["bus"][:, 7]
    assert vm.min() >= 0.95 and vm.max() <= 1.05 + 1e-9
    br = res["branch"]
    s = np.maximum(np.hypot(br[:, 13], br[:, 14]), np.hypot(br[:, 15], br[:, 16]))
    assert np.all(s <= cold.branches.rate_a_mva)


def test_every_site_is_a_target(city):
    from gridshield.impact import Damage, ImpactModel

    assert len(city.sites) >= 15
    model = ImpactModel(city)
    lost = {}
    for site, rows in city.sites.items():
        assert city.locate(f"site:{site}") == ("site", -1)
        dmg = Damage.from_ids(city, [f"site:{site}"])
        assert dmg.bus_out.sum() == rows.size >= 1 and dmg.bus_out[rows].all()
        res = model.assess(dmg)
        assert np.isfinite(res.lost_mw) and -1e-6 <= res.lost_mw <= res.demand_mw + 1e-6
        lost[site] = res.lost_mw
    # a 110 kV substation takes its two districts with it: exactly their load is lost
    for site in (s for s in city.sites if s.startswith("S110-")):
        on_site = np.isin(city.loads.bus, city.sites[site])
        assert lost[site] == pytest.approx(city.loads.p_mw[on_site].sum(), rel=1e-6)
    # the 330 kV ring and the plants are meshed: one of them alone sheds nothing
    for site in (s for s in city.sites if not s.startswith("S110-")):
        assert lost[site] == pytest.approx(0.0, abs=1e-6)


def test_matpower_round_trip_exact(city, tmp_path):
    p = gs.write_matpower(city, tmp_path / "city.m")
    back = gs.read_matpower(p)
    assert back.equals(city)
    for name in ("gs_heat_sources", "gs_heat_pumps", "gs_heat_districts"):
        assert back.extra_tables[name] == city.extra_tables[name]
    # and written again, byte for byte the same text
    assert gs.matpower_text(back) == gs.matpower_text(city)
