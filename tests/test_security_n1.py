"""N-1 screening: DC results equal fresh DC solves; AC-verified verdicts equal a brute-force AC loop."""

from __future__ import annotations

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.flow.dc import DcSolver, bus_injection_mw
from gridshield.security.n1 import screen_n1
from gridshield.security.shed import default_candidates
from tests.ac_reference import brute_force_ac
from tests.conftest import shared_case


@pytest.fixture(scope="module")
def pg118():
    return gs.load_case(str(shared_case("pglib/pglib_opf_case118_ieee.m")))


@pytest.fixture(scope="module")
def c2869():
    return gs.load_case("case2869pegase")


def _fresh_dc(grid, asset, worsen=0.02):
    """Max loading (%) and overload count from a fresh DC power flow without the asset."""
    br, g = grid.branches, grid.gens
    s = DcSolver(grid)
    f0 = s.solve(bus_injection_mw(grid, g.p_mw, s.gen_on)).p_from_mw
    rate = br.rate_a_mva
    mon = np.where(rate > 0, np.maximum(rate, np.abs(f0) * (1 + worsen)), 0.0)
    bon = br.in_service.copy()
    bon[list(asset.branches)] = False
    gon = g.in_service.copy()
    gon[list(asset.gens)] = False
    g2 = grid.replace(gens=g.replace(in_service=gon))
    s2 = DcSolver(g2, branch_in_service=bon)
    p = bus_injection_mw(g2, g.p_mw, s2.gen_on)
    f = s2.solve(np.where(s2.bus_energised, p, 0.0)).p_from_mw
    ld = np.where(mon > 0, np.abs(f) / np.where(mon > 0, mon, 1), 0.0)
    ld[list(asset.branches)] = 0.0
    return 100 * ld.max(), int(np.count_nonzero(ld > 1 + 1e-9))


def _check_against_fresh(grid, res):
    assets = {a.id: a for a in default_candidates(grid, ("branches", "gens", "sites"))}
    for i, cid in enumerate(res.ids):
        mx, n = _fresh_dc(grid, assets[cid])
        assert res.dc_max_loading_pct[i] == pytest.approx(mx, rel=1e-7, abs=1e-7), cid
        assert res.dc_n_overloads[i] == n, cid


def test_dc_n1_equals_fresh_solves_case118(pg118):
    res = screen_n1(pg118)
    assert len(res) == len(pg118.branches) + len(pg118.gens) + len(pg118.buses)
    _check_against_fresh(pg118, res)
    assert res.summary()["dc_violating"] > 0


def test_dc_n1_matpower_case118_has_no_ratings():
    g = gs.load_case("case118")
    res = screen_n1(g, ("branches",))
    assert not res.violating.any() and res.dc_max_loading_pct.max() == 0.0
    # radial branches: the load they cut off is lost; no limits in case118, so the lost MW is the
    # load of the buses left without generation plus each island's deficit (load - Pmax)
    from gridshield.topology import islands

    isl = np.flatnonzero(res.islanding)
    assert isl.size > 0 and np.count_nonzero(res.lost_mw > 0) > 0
    ld = g.loads
    for i in isl.tolist():
        on = g.branches.in_service.copy()
        on[g.branches.index[res.ids[i]]] = False
        lab = islands(g, branch_in_service=on).label
        load = np.bincount(lab[ld.bus], weights=ld.p_mw.clip(min=0), minlength=lab.max() + 1)
        cap = np.bincount(lab[g.gens.bus], weights=g.gens.p_max_mw * g.gens.in_service, minlength=lab.max() + 1)
        assert res.lost_mw[i] == pytest.approx(np.maximum(load - cap, 0).sum(), abs=1e-6), res.ids[i]


def test_dc_n1_sample_case2869(c2869):
    rng = np.random.default_rng(7)
    ids = (rng.choice(c2869.branches.id, 40, replace=False).tolist()
           + rng.choice(c2869.gens.id, 10, replace=False).tolist()
           + rng.choice(c2869.buses.id, 10, replace=False).tolist())
    res = screen_n1(c2869, contingencies=ids)
    assert set(res.ids) == set(ids)
    _check_against_fresh(c2869, res)


def _brute_force_violations(grid, ids):
    ref = brute_force_ac(grid, ids)
    bad = ~ref["converged"] | ref["thermal"] | ref["voltage"]
    return {i for i, v in zip(ids, bad.tolist(), strict=True) if v}


def test_ac_verified_equals_brute_force_case118(pg118):
    res = screen_n1(pg118, ac_verify=True)
    assert res.ac_verified.all()
    full = _brute_force_violations(pg118, res.ids)
    assert set(res.violating_ids) == full
    assert len(full) > 0
    df = res.to_frame()
    assert {"ac_status", "ac_vm_min_pu", "ac_vm_max_pu", "ac_n_voltage"} <= set(df.columns)
    g = gs.load_case("case118")
    res = screen_n1(g, ac_verify=True)
    assert set(res.violating_ids) == _brute_force_violations(g, res.ids)  # voltage violations only (no ratings)


def test_ac_verified_equals_brute_force_case2869_subset(c2869):
    # deterministic subset (every contingency of case2869pegase: tests/test_security_ac.py, slow):
    # 150 random contingencies plus the 60 with the highest DC loading
    dc = screen_n1(c2869, ("branches", "gens"))
    rng = np.random.default_rng(3)
    top = np.argsort(-dc.dc_max_loading_pct)[:60]
    pick = sorted(set(rng.choice(len(dc), 150, replace=False).tolist()) | set(top.tolist()))
    ids = [dc.ids[i] for i in pick]
    res = screen_n1(c2869, ("branches", "gens"), ac_verify=True, contingencies=ids)
    full = _brute_force_violations(c2869, list(res.ids))
    assert set(res.violating_ids) == full
    assert len(full) > 0


def test_result_frames_and_errors(pg118):
    res = screen_n1(pg118, ("gens",))
    df = res.to_frame()
    assert list(df.index) == list(res.ids) and df.shape[0] == len(pg118.gens)
    d = res.to_dict()
    assert d["summary"]["contingencies"] == len(pg118.gens)
    with pytest.raises(GridshieldError):
        screen_n1(pg118, ("lines",))
    with pytest.raises(UnknownAssetError):
        screen_n1(pg118, contingencies=["branch:9999"])
