"""Impact of damage: hand-solved small cases, PowerModelsRestoration's published DC MLD values,
a second (PTDF, constraint-generation) formulation through scipy's linprog, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linprog

import gridshield as gs
from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.flow.matrices import bus_shunt_pu, make_bdc
from gridshield.impact import Damage, ImpactModel, assess_damage
from gridshield.impact.mld import resolve_weights
from gridshield.topology import islands
from tests.conftest import shared_case

# ---------------------------------------------------------------------------------------------
# small grids built in code
# ---------------------------------------------------------------------------------------------


def make_grid(buses, branches, gens, loads, name="hand"):
    """buses: [(number, type, site)], branches: [(f, t, x, rate_a)], gens: [(bus, p, pmin, pmax)],
    loads: [(bus, p, priority, customers, group)] (bus numbers)."""
    num = [b[0] for b in buses]
    row = {n: i for i, n in enumerate(num)}
    B = gs.Buses(id=[f"bus:{n}" for n in num], number=num, type=[b[1] for b in buses], substation=[b[2] for b in buses])
    L = gs.Branches(
        id=[f"branch:{k + 1}" for k in range(len(branches))],
        from_bus=[row[b[0]] for b in branches],
        to_bus=[row[b[1]] for b in branches],
        r_pu=[0.0] * len(branches),
        x_pu=[b[2] for b in branches],
        rate_a_mva=[b[3] for b in branches],
        rate_b_mva=[b[4] if len(b) > 4 else 0.0 for b in branches],
    )
    G = gs.Generators(
        id=[f"gen:{k + 1}" for k in range(len(gens))],
        bus=[row[g[0]] for g in gens],
        p_mw=[g[1] for g in gens],
        p_min_mw=[g[2] for g in gens],
        p_max_mw=[g[3] for g in gens],
    )
    D = gs.Loads(
        id=[f"load:{k + 1}" for k in range(len(loads))],
        bus=[row[d[0]] for d in loads],
        p_mw=[d[1] for d in loads],
        priority=[d[2] for d in loads],
        customers=[d[3] for d in loads],
        group=[d[4] for d in loads],
    )
    return gs.Grid(buses=B, branches=L, gens=G, loads=D, name=name)


@pytest.fixture()
def radial():
    # 1 (gen, 150 MW) --[rate 100]-- 2 (80 MW residential) --[rate 40]-- 3 (60 MW critical)
    return make_grid(
        [(1, 3, "A"), (2, 1, "B"), (3, 1, "C")],
        [(1, 2, 0.1, 100.0, 130.0), (2, 3, 0.1, 40.0, 50.0)],
        [(1, 140.0, 0.0, 150.0)],
        [(2, 80.0, "residential", 1000, "Q1"), (3, 60.0, "critical", 2, "EXEMPT")],
    )


@pytest.fixture()
def triangle():
    # equal reactances: flow on 1-2 = 2/3 P2 + 1/3 P3 (loads as withdrawals); only 1-2 is limited (50 MW)
    return make_grid(
        [(1, 3, "A"), (2, 1, "B"), (3, 1, "C")],
        [(1, 2, 0.1, 50.0), (2, 3, 0.1, 0.0), (1, 3, 0.1, 0.0)],
        [(1, 150.0, 0.0, 300.0)],
        [(2, 60.0, "critical", 5, "H"), (3, 90.0, "residential", 900, "Q2")],
    )


def test_radial_hand_solved(radial):
    # line 2-3 carries at most 40 -> bus 3 gets 40 of 60; line 1-2 carries at most 100 -> bus 2 gets 60 of 80
    r = assess_damage(radial)
    assert r.demand_mw == pytest.approx(140.0)
    assert r.served_mw == pytest.approx(100.0, abs=1e-6)
    assert r.load_served_mw == pytest.approx([60.0, 40.0], abs=1e-6)
    assert r.critical_lost == ("load:2",)
    assert r.customers_affected == 1002
    assert r.by_priority["critical"]["lost_mw"] == pytest.approx(20.0, abs=1e-6)
    assert r.branch_flow_mw == pytest.approx([100.0, 40.0], abs=1e-6)
    # emergency rating B: 130 / 50 -> bus 3 gets 50, bus 2 gets 80 (130 - 50 = 80): all but 10 MW
    rb = assess_damage(radial, rate="b")
    assert rb.served_mw == pytest.approx(130.0, abs=1e-6)
    assert rb.load_served_mw == pytest.approx([80.0, 50.0], abs=1e-6)


def test_damage_line_makes_dark_island(radial):
    r = assess_damage(radial, ["branch:2"])
    assert r.load_served_mw == pytest.approx([80.0, 0.0], abs=1e-6)
    assert r.lost_mw == pytest.approx(60.0, abs=1e-6)
    assert r.dark_buses == ("bus:3",)
    assert not r.bus_energised[2] and r.bus_energised[0]
    st = sorted((i.status, i.n_buses, i.demand_mw) for i in r.islands)
    assert st == [("dark", 1, 60.0), ("energised", 2, 80.0)]
    # the gen's site takes the gen and both lines at bus 1 with it: everything dark
    r2 = assess_damage(radial, ["site:A"])
    assert r2.served_mw == 0.0 and r2.lost_mw == pytest.approx(140.0)
    assert set(r2.dark_buses) == {"bus:1", "bus:2", "bus:3"}
    # everything hit: no island left at all, every option path agrees
    for kw in ({}, {"fast": False}, {"cascade": True}, {"redispatch": False}, {"formulation": "ptdf"}, {"ac_check": True}):
        r3 = assess_damage(radial, ["site:A", "site:B", "site:C"], **kw)
        assert r3.lost_mw == pytest.approx(140.0) and r3.n_islands == 0


def test_triangle_priorities(triangle):
    # max 1000 s2 + 10 s3 s.t. 2/3 s2 + 1/3 s3 <= 50: s2 = 60 (critical) and s3 = 30
    r = assess_damage(triangle)
    assert r.load_served_mw == pytest.approx([60.0, 30.0], abs=1e-6)
    assert r.branch_flow_mw[0] == pytest.approx(50.0, abs=1e-6)
    assert r.critical_lost == ()
    # equal weights: max s2 + s3 -> s3 = 90 first (1/3 per MW), then s2 = 30
    r2 = assess_damage(triangle, weights={"critical": 10.0})
    assert r2.load_served_mw == pytest.approx([30.0, 90.0], abs=1e-6)
    assert r2.critical_lost == ("load:1",)
    assert r2.by_group["H"]["lost_mw"] == pytest.approx(30.0, abs=1e-6)
    assert r2.by_group["Q2"]["customers_off"] == 0


def test_no_redispatch():
    # slack at bus 1 behind a 60 MW line; gen 2 at bus 2 runs 80 MW (can do 150); 180 MW load at bus 3
    g = make_grid(
        [(1, 3, ""), (2, 2, ""), (3, 1, "")],
        [(1, 3, 0.1, 60.0), (2, 3, 0.1, 200.0)],
        [(1, 100.0, 0.0, 200.0), (2, 80.0, 0.0, 150.0)],
        [(3, 180.0, "residential", 10, "")],
    )
    assert assess_damage(g).served_mw == pytest.approx(180.0, abs=1e-6)  # gen 2 picks up to 120
    r = assess_damage(g, redispatch=False)  # gen 2 stays at 80, the slack gives at most 60
    assert r.served_mw == pytest.approx(140.0, abs=1e-6)
    assert r.gen_p_mw == pytest.approx([60.0, 80.0], abs=1e-6)


def test_commitment_switches_off_unabsorbable_generator():
    # gen 1 (Pmin 90) alone with 50 MW load behind a 40 MW line from gen 2
    g = make_grid(
        [(1, 3, ""), (2, 2, "")],
        [(1, 2, 0.1, 0.0)],
        [(1, 0.0, 90.0, 100.0), (2, 50.0, 0.0, 60.0)],
        [(1, 20.0, "residential", 1, ""), (2, 30.0, "residential", 1, "")],
    )
    r = assess_damage(g, commitment="milp")
    assert r.served_mw == pytest.approx(50.0, abs=1e-6)
    assert r.gen_p_mw == pytest.approx([0.0, 50.0], abs=1e-6)
    assert r.stranded_gens == ("gen:1",)
    # relaxed (PowerModelsRestoration run_mld): Pmin effectively 0, same served load here
    assert assess_damage(g, commitment="relaxed").served_mw == pytest.approx(50.0, abs=1e-6)
    # fixed: gen 1 must run >= 90 MW but the island absorbs 50: infeasible, reported with the reason
    r3 = assess_damage(g, commitment="fixed")
    (bad,) = r3.infeasible_islands
    assert "minimum output 90.0 MW exceeds the island's demand 50.0 MW" in bad.reason
    assert r3.served_mw == 0.0


def test_no_shedding_infeasible_island_reported():
    # two islands after damage: island A can serve itself, island B (20 MW of gen, 50 MW load) cannot
    g = make_grid(
        [(1, 3, ""), (2, 1, ""), (3, 2, ""), (4, 1, "")],
        [(1, 2, 0.1, 0.0), (2, 3, 0.1, 0.0), (3, 4, 0.1, 0.0)],
        [(1, 100.0, 0.0, 200.0), (3, 10.0, 0.0, 20.0)],
        [(2, 60.0, "residential", 1, ""), (4, 50.0, "residential", 1, "")],
    )
    r = assess_damage(g, ["branch:2"], shed=False)
    (bad,) = r.infeasible_islands
    assert "capacity 20.0 MW is below the island's demand 50.0 MW" in bad.reason and "shed=False" in bad.reason
    assert r.load_served_mw == pytest.approx([60.0, 0.0], abs=1e-6)
    # with shedding: the small island serves 20 of its 50 MW
    assert assess_damage(g, ["branch:2"]).load_served_mw == pytest.approx([60.0, 20.0], abs=1e-6)


def test_empty_damage_is_intact_grid(case118):
    r = assess_damage(case118, [])
    assert r.lost_mw == pytest.approx(0.0, abs=1e-6)
    assert r.served_mw == pytest.approx(case118.loads.p_mw.sum())
    assert r.n_islands == 1 and r.dark_buses == () and r.trips == ()
    assert r.method == "fast"
    assert assess_damage(case118, Damage.none(case118), fast=False).served_mw == pytest.approx(r.served_mw, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Damage values
# ---------------------------------------------------------------------------------------------


def test_damage_ids_sites_and_errors(radial, tmp_path):
    d = Damage.from_ids(radial, ["site:B", "gen:1"])
    assert d.ids == ("site:B", "gen:1")
    assert d.bus_out.tolist() == [False, True, False]
    assert d.branch_out.tolist() == [True, True]
    assert d.load_out.tolist() == [True, False] and d.gen_out.tolist() == [True]
    assert Damage.from_ids(radial, "branch:1, gen:1").ids == ("branch:1", "gen:1")
    with pytest.raises(UnknownAssetError, match="branch:1"):
        Damage.from_ids(radial, ["branch:11"])
    with pytest.raises(UnknownAssetError, match="site:B"):
        Damage.from_ids(radial, ["site:b"])
    p = tmp_path / "d.yaml"
    p.write_text("damage:\n  - site:C\n  - branch:1\n")
    assert Damage.from_file(p, radial).ids == ("site:C", "branch:1")
    q = tmp_path / "d.json"
    q.write_text(json.dumps(["gen:1"]))
    assert Damage.from_file(q, radial).gen_out.tolist() == [True]
    q.write_text("{bad json")
    with pytest.raises(GridshieldError, match="d.json:1: invalid JSON"):
        Damage.from_file(q, radial)
    with pytest.raises(GridshieldError, match="cannot read"):
        Damage.from_file(tmp_path / "missing.yaml", radial)


def test_damage_from_pmr_tables():
    g = gs.read_matpower(shared_case("pmr/case5_restoration.m"))
    d = Damage.from_matpower(g)
    assert d.ids == ("branch:1", "branch:2", "branch:3", "gen:1", "gen:2", "gen:3")
    r = assess_damage(g, d, dc_convention="lossless")
    # what is left: gens 4 (200 MW, bus 4) and 5 (600 MW, bus 10); bus 1 isolated (no load)
    # loads 300 (bus 2) + 300 (bus 3) + 400 (bus 4) = 1000 MW; checked against the PTDF form below
    assert r.demand_mw == pytest.approx(1000.0)
    assert r.served_mw == pytest.approx(_ptdf_objective(g, d, commitment="relaxed", lossless=True)[1], abs=1e-5)


def test_pmr_case5_mld_ft_status_preprocessing():
    # PMR's topology-propagation case (test/data.jl: active buses 2, 4, 5): bus 6 is out of service
    # (its 100 MW load is not demand); islands {1} (200 MW unit, no load), {2} (40 MW unit, 100 MW
    # load, 1 MW shunt conductance) and {3, 4, 5} (1 MW unit and 1 MW shunt at bus 5, 100 MW load at 4).
    # MATPOWER's DC model counts the shunt conductance as load: bus 2 serves 40 - 1 = 39 MW and the
    # 1 MW unit at bus 5 only feeds its own shunt.
    g = gs.read_matpower(shared_case("pmr/case5_mld_ft.m"))
    r = assess_damage(g, dc_convention="lossless")
    assert r.demand_mw == pytest.approx(200.0)
    assert r.load_served_mw == pytest.approx([39.0, 0.0, 0.0], abs=1e-6)
    assert sorted(i.n_buses for i in r.islands) == [1, 1, 3]


# ---------------------------------------------------------------------------------------------
# PowerModelsRestoration's published DC MLD values
# ---------------------------------------------------------------------------------------------
# Source: lanl-ansi/PowerModelsRestoration.jl test/mld.jl ("test dc ml": run_mld with
# DCPPowerModel, relaxed generator/load indicators) and test/mld_uc.jl ("test dc ml uc":
# run_mld_uc, binary generator indicators). `active_power_served` is in per unit (base 100 MVA)
# and is asserted there with atol = 1e-1 p.u. (10 MW); PowerModels' DC model is lossless
# (b = x / (r^2 + x^2)), enforces the angle-difference limits and counts only loads (not shunts)
# as served. We assert the same values, with the same tolerance and also much tighter where our
# LP reproduces them to 1e-4 p.u.

PMR_DC = [
    # file, commitment, served p.u. (PMR), tight tolerance p.u.
    ("pmr/case3_mld.m", "relaxed", 1.1582177246877814, 1e-4),  # mld.jl
    ("pmr/case3_mld.m", "milp", 1.1582177246877814, 1e-4),  # mld_uc.jl
    ("pmr/case3_mld_s.m", "relaxed", 1.370511858660896, 1e-4),  # mld.jl, 3-bus shunt case
    ("pmr/case3_mld_uc.m", "relaxed", 1.2582176367462893, 1e-4),  # mld.jl, gen 1 status 0.798
    ("pmr/case3_mld_uc.m", "milp", 0.500, 1e-6),  # mld_uc.jl, gen 1 off
    ("pmr/case3_mld_lc.m", "relaxed", 0.5805121110548641, 1e-4),  # mld.jl
    ("pmr/case3_mld_lc.m", "milp", 0.58051219078262775, 1e-6),  # mld_uc.jl
    ("pm/matpower/case24.m", "relaxed", 28.453537816101903, 1e-0),  # mld.jl (we serve 28.4603)
    ("pm/matpower/case24.m", "milp", 28.45354237204865, 1e-0),  # mld_uc.jl
]


@pytest.mark.parametrize("path,commitment,served_pu,tight", PMR_DC)
def test_powermodelsrestoration_dc_mld(path, commitment, served_pu, tight):
    g = gs.read_matpower(shared_case(path))
    r = assess_damage(g, dc_convention="lossless", commitment=commitment)
    served = r.served_mw / g.base_mva
    assert served == pytest.approx(served_pu, abs=1e-1)  # PMR's own tolerance
    assert served == pytest.approx(served_pu, abs=tight)
    if path.endswith("case3_mld_uc.m") and commitment == "milp":
        assert r.stranded_gens == ("gen:1",)  # PMR: gen_status("1") == 0


# ---------------------------------------------------------------------------------------------
# Second formulation: PTDF rows added lazily (constraint generation), scipy linprog (HiGHS)
# ---------------------------------------------------------------------------------------------


def _ptdf_objective(grid, dmg, commitment="relaxed", lossless=False, weights=None, infeasible=None):
    """Max weighted served load with island balance and PTDF flow limits, by constraint
    generation: solve, compute the DC flows of the answer, add the violated branch rows, repeat.
    Returns (objective in MW-weighted units, served MW), or ``infeasible`` when the program is."""
    base = grid.base_mva
    bus_on = grid.buses.in_service & ~dmg.bus_out
    br = grid.branches
    br_on = br.in_service & ~dmg.branch_out & bus_on[br.from_bus] & bus_on[br.to_bus]
    gen_on = grid.gens.in_service & ~dmg.gen_out & bus_on[grid.gens.bus]
    ld_on = grid.loads.in_service & ~dmg.load_out & bus_on[grid.loads.bus]
    isl = islands(grid, br_on, bus_on, gen_on)
    eng = isl.energised & bus_on
    gen_on &= eng[grid.gens.bus]
    ld_on &= eng[grid.loads.bus]
    br_on &= eng[br.from_bus] & eng[br.to_bus]
    m = make_bdc(grid, "lossless" if lossless else "matpower", br_on)
    gs_pu = np.where(eng, bus_shunt_pu(grid).real, 0.0)
    # references: one bus per energised island
    refs = []
    for k in np.flatnonzero(isl.has_generation):
        refs.append(np.flatnonzero(isl.label == k)[0])
    keep = eng.copy()
    keep[refs] = False
    idx = np.flatnonzero(keep)
    lu = spla.splu(m.bbus[idx][:, idx].tocsc())
    nb = len(grid.buses)
    gi, di = np.flatnonzero(gen_on), np.flatnonzero(ld_on)
    ng, nd = gi.size, di.size
    if ng + nd == 0:  # nothing energised
        return 0.0, 0.0
    # injection matrix: P = Cg pg - Cd ps - gs
    cg = sp.csr_matrix((np.ones(ng), (grid.gens.bus[gi], np.arange(ng))), shape=(nb, ng))
    cd = sp.csr_matrix((np.ones(nd), (grid.loads.bus[di], np.arange(nd))), shape=(nb, nd))
    w = resolve_weights(grid, weights)[di]
    pd = grid.loads.p_mw[di] / base
    c = np.r_[np.zeros(ng), -w]
    pmin = grid.gens.p_min_mw[gi] / base
    # relaxed commitment: a positive minimum drops to 0; a negative one (a unit that can absorb) stays
    lo_g = np.minimum(pmin, 0.0) if commitment == "relaxed" else pmin
    bounds = list(zip(lo_g, grid.gens.p_max_mw[gi] / base, strict=True)) + [
        (min(p, 0.0) if p >= 0 else p, p) for p in pd
    ]
    # island balance rows
    isl_ids = np.flatnonzero(isl.has_generation)
    a_eq = np.zeros((isl_ids.size, ng + nd))
    b_eq = np.zeros(isl_ids.size)
    for r, k in enumerate(isl_ids):
        a_eq[r, :ng] = (isl.label[grid.gens.bus[gi]] == k).astype(float)
        a_eq[r, ng:] = -(isl.label[grid.loads.bus[di]] == k).astype(float)
        b_eq[r] = gs_pu[isl.label == k].sum()
    rate = br.rate_a_mva / base
    rows, rhs = [], []
    added = set()
    for _ in range(50):
        res = linprog(
            c, A_ub=np.array(rows) if rows else None, b_ub=np.array(rhs) if rhs else None,
            A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs",
        )
        if res.status == 2 and infeasible is not None:
            return infeasible
        assert res.status == 0, res.message
        x = res.x
        p = cg @ x[:ng] - cd @ x[ng:] - gs_pu
        theta = np.zeros(nb)
        theta[idx] = lu.solve((p - m.pbus_shift)[idx])
        flow = m.bf @ theta + m.pf_shift
        viol = np.flatnonzero(br_on & (rate > 0) & (np.abs(flow) > rate * (1 + 1e-9) + 1e-9))
        viol = [v for v in viol if v not in added]
        if not viol:
            return -res.fun * base, float(x[ng:][pd > 0].sum() * base)
        for v in viol:
            added.add(v)
            # PTDF row of branch v: flow_v = b_v (e_f - e_t)^T theta + shift, theta = B_r^-1 (P - Pshift)
            e = np.zeros(nb)
            e[br.from_bus[v]] += m.b[v]
            e[br.to_bus[v]] -= m.b[v]
            ptdf = np.zeros(nb)
            ptdf[idx] = lu.solve(e[idx], trans="T")
            coef = np.r_[cg.T @ ptdf, -(cd.T @ ptdf)]
            const = ptdf @ (-gs_pu - m.pbus_shift) + m.pf_shift[v]
            rows += [coef, -coef]
            rhs += [rate[v] - const, rate[v] + const]
    raise AssertionError("constraint generation did not converge")


def rated(grid, factor, floor_mw=5.0):
    """The grid with rate A set to ``factor`` x |base-case DC flow| + ``floor_mw`` where it has none
    (case118 has no ratings), or scaled by ``factor`` where it has."""
    rate = grid.branches.rate_a_mva
    if np.all(rate == 0):
        rate = factor * np.abs(gs.solve_dc(grid).p_from_mw) + floor_mw
    else:
        rate = rate * factor
    return grid.replace(branches=grid.branches.replace(rate_a_mva=rate))


def served_damaged_mw(grid, dmg):
    """Demand of the loads the damage itself takes out."""
    return float(grid.loads.p_mw[dmg.load_out & (grid.loads.p_mw > 0)].sum())


def _weighted(grid, r, weights=None):
    return float(resolve_weights(grid, weights) @ r.load_served_mw)


@pytest.mark.parametrize("name,n,seed,derate", [("case118", 8, 1, 1.1), ("case2869pegase", 1, 2, 0.8)])
def test_second_formulation_random_damage(name, n, seed, derate):
    # tight ratings so that the damages actually force shedding through congestion
    g = rated(gs.load_case(name), derate)
    model = ImpactModel(g, commitment="relaxed", angle_limits=False, fast=False, formulation="btheta")
    model_ptdf = ImpactModel(g, commitment="relaxed", angle_limits=False, formulation="ptdf")
    rng = np.random.default_rng(seed)
    ids = g.branches.id.tolist() + g.gens.id.tolist() + g.buses.id.tolist()
    shed_seen = 0
    for _ in range(n):
        dmg = Damage.from_ids(g, list(rng.choice(ids, 3, replace=False)))
        r = model.assess(dmg)
        obj, served = _ptdf_objective(g, dmg)
        assert _weighted(g, r) == pytest.approx(obj, rel=1e-6)
        assert _weighted(g, model_ptdf.assess(dmg)) == pytest.approx(obj, rel=1e-6)
        shed_seen += r.lost_mw > served_damaged_mw(g, dmg) + 1.0
        # the LP's point respects every rating
        lim = g.branches.rate_a_mva > 0
        assert np.all(np.abs(r.branch_flow_mw[lim]) <= g.branches.rate_a_mva[lim] * (1 + 1e-7) + 1e-6)
    assert shed_seen >= 1


def test_ptdf_commitment_milp_equals_btheta():
    """The PTDF program's continuous solves project the commitment columns out (pg bounds from
    u's bounds, u lifted back); with binary commitment both formulations must still agree, on
    damages of case1354pegase (72 generators with Pmin > 0) that shed load and strand units."""
    g = gs.load_case("case1354pegase")
    bt = ImpactModel(g, commitment="milp", fast=False, formulation="btheta")
    pt = ImpactModel(g, commitment="milp", formulation="ptdf")
    rng = np.random.default_rng(3)
    ids = g.buses.id.tolist()
    methods = set()
    for _ in range(8):
        dmg = Damage.from_ids(g, list(rng.choice(ids, 15, replace=False)))
        a, b = bt.assess(dmg), pt.assess(dmg)
        assert _weighted(g, b) == pytest.approx(_weighted(g, a), rel=1e-8)
        assert b.lost_mw == pytest.approx(a.lost_mw, abs=1e-6 * a.demand_mw)
        methods.add(b.method)
    assert "lp-committed-ptdf" in methods  # the relaxation and branch and bound: see below


def _commitment_grid(name):
    """``name`` with every generator's minimum at half its maximum and ratings at 70 % (or 1.0 x
    the base-case DC flow + 5 MW where it has none): damages then strand units and congest."""
    g = gs.load_case(name)
    gn = g.gens
    g = g.replace(gens=gn.replace(p_min_mw=np.maximum(gn.p_min_mw, 0.5 * gn.p_max_mw)))
    return rated(g, 0.7) if np.any(g.branches.rate_a_mva > 0) else rated(g, 1.0)


@pytest.mark.parametrize("name", ["case30", "case57"])
def test_commitment_branch_and_bound_equals_enumeration(name):
    """The binary commitment (branch and bound over warm continuous solves) against brute force:
    every on/off set of the live units solved as a plain LP by an independent constraint
    generation (:func:`_ptdf_objective`); the answer must be within the commitment gap of the
    best one and not above it, in both formulations."""
    from itertools import product

    from gridshield.impact.mld import COMMIT_GAP

    g = _commitment_grid(name)
    models = [ImpactModel(g, commitment="milp", formulation=f, fast=False) for f in ("btheta", "ptdf")]
    rng = np.random.default_rng(0)
    ids = g.branches.id.tolist() + g.buses.id.tolist()
    gen_ids = np.array(g.gens.id.tolist())
    n_bb = 0
    for _ in range(12):
        hit = list(rng.choice(ids, 4, replace=False))
        dmg = Damage.from_ids(g, hit)
        results = [m.assess(dmg) for m in models]
        live = np.flatnonzero(~dmg.gen_out & g.gens.in_service)
        best = -np.inf
        for off in product((False, True), repeat=live.size):
            d = Damage.from_ids(g, hit + gen_ids[live[np.array(off, bool)]].tolist())
            best = max(best, _ptdf_objective(g, d, commitment="fixed", infeasible=(-np.inf, 0.0))[0])
        for r in results:
            got = _weighted(g, r)
            assert got <= best + 1e-6 * max(1.0, best)
            assert got >= best - COMMIT_GAP * max(1.0, best) - 1e-6, r.method
            n_bb += r.method.startswith("branch-and-bound")
    assert n_bb >= 8


def test_commitment_node_limit_reports_its_gap(monkeypatch):
    """With no node left, the branch and bound still answers (every undecided unit off, or the
    all-on LP) and writes its gap to the proven bound in the method; never above the optimum."""
    from gridshield.impact import mld

    g = _commitment_grid("case30")
    monkeypatch.setattr(mld, "COMMIT_MAX_NODES", 0)
    model = ImpactModel(g, commitment="milp", formulation="ptdf", fast=False)
    exact = ImpactModel(g, commitment="milp", formulation="btheta", fast=False)
    rng = np.random.default_rng(0)
    ids = g.branches.id.tolist() + g.buses.id.tolist()
    gaps = 0
    for _ in range(12):
        dmg = Damage.from_ids(g, list(rng.choice(ids, 4, replace=False)))
        r = model.assess(dmg)
        gaps += "(gap " in r.method
        monkeypatch.setattr(mld, "COMMIT_MAX_NODES", 200)
        assert _weighted(g, r) <= _weighted(g, exact.assess(dmg)) + 1e-6
        monkeypatch.setattr(mld, "COMMIT_MAX_NODES", 0)
    assert gaps >= 3


def test_fast_path_equals_lp(case118):
    fast, slow = ImpactModel(case118), ImpactModel(case118, fast=False)
    rng = np.random.default_rng(5)
    ids = case118.branches.id.tolist() + case118.gens.id.tolist()
    for _ in range(15):
        d = list(rng.choice(ids, 3, replace=False))
        a, b = fast.assess(d), slow.assess(d)
        assert a.served_mw == pytest.approx(b.served_mw, abs=1e-6)
    assert fast.n_fast > 0


def test_result_dict_and_frame(triangle):
    r = assess_damage(triangle, ["branch:3"])
    d = r.to_dict()
    json.dumps(d)
    assert d["lost_mw"] == pytest.approx(r.lost_mw)
    assert d["loads"]["id"] == ["load:1", "load:2"]
    f = r.to_frame()
    assert list(f.index) == ["load:1", "load:2"]
    assert f["lost_mw"].sum() == pytest.approx(r.lost_mw)
    assert f["priority"].tolist() == ["critical", "residential"] and f["bus"].tolist() == ["bus:2", "bus:3"]
    assert f["customers"].tolist() == [5, 900]


def test_bad_options(triangle):
    with pytest.raises(GridshieldError, match="--dc"):
        ImpactModel(triangle, dc_convention="foo")
    with pytest.raises(GridshieldError, match="rate"):
        ImpactModel(triangle, rate="z")
    with pytest.raises(GridshieldError, match="priority class"):
        ImpactModel(triangle, weights={"vip": 3.0})
    with pytest.raises(GridshieldError, match="commitment"):
        ImpactModel(triangle, commitment="maybe")


# ---------------------------------------------------------------------------------------------
# AC check and CLI
# ---------------------------------------------------------------------------------------------


def test_ac_check_radial(radial):
    # the DC answer loads both lines to exactly their rating: with reactive losses the MVA flow exceeds it
    r = assess_damage(radial, ac_check=True)
    assert r.ac is not None and r.ac.converged and not r.ac.feasible
    assert set(r.ac.thermal_violations) == {"branch:1", "branch:2"}
    assert "not AC-feasible" in r.ac.message
    # branch 2 cut: 80 MW over a lossless line (x = 0.1 p.u.), V1 = 1, Q2 = 0:
    # V2 = cos d, P = sin(2d) / (2x), Q_from = sin^2 d / x  ->  |S_from| from the closed form
    r2 = assess_damage(radial, ["branch:2"], ac_check=True)
    d = np.arcsin(2 * 0.1 * 0.8) / 2
    s_from = np.hypot(0.8, np.sin(d) ** 2 / 0.1) * 100.0
    assert r2.ac.feasible and r2.ac.max_loading == pytest.approx(s_from / 100.0, abs=1e-6)
    assert r2.ac.vm_min_pu == pytest.approx(np.cos(d), abs=1e-6)


def test_cli_impact(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "gridshield", *args], capture_output=True, text=True, timeout=300)

    out = tmp_path / "r.json"
    res = run("impact", "synthetic-city", "--damage", "site:S330-East,site:S330-SouthEast", "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Impact on" in res.stdout and "By priority" in res.stdout
    d = json.loads(out.read_text())
    g = gs.load_case("synthetic-city")
    ref = assess_damage(g, ["site:S330-East", "site:S330-SouthEast"])
    assert d["lost_mw"] == pytest.approx(ref.lost_mw)
    assert d == json.loads(json.dumps(ref.to_dict()))
    f = tmp_path / "d.yaml"
    f.write_text("damage: [branch:1]\n")
    res = run("impact", "case9", "--damage-file", str(f), "--cascade", "--rate", "b")
    assert res.returncode == 0, res.stdout + res.stderr
    res = run("impact", "case9", "--damage", "branch:99")
    assert res.returncode == 2 and "unknown branch id 'branch:99'" in res.stderr


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_model_pickles_after_solving(triangle, formulation):
    import pickle

    m = ImpactModel(triangle, fast=False, formulation=formulation)
    a = m.assess(["branch:3"])
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.assess(["branch:3"]).served_mw == pytest.approx(a.served_mw, abs=1e-9)
    assert m2.assess([]).load_served_mw == pytest.approx([60.0, 30.0], abs=1e-6)
