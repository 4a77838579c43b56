"""AC maximal load delivery (``model="ac"``) against published values, hand calculations, an
independent AC power flow (PYPOWER), a valid relaxation and a shed-until-feasible heuristic."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import gridshield as gs
from gridshield.impact import ImpactModel, assess_damage

pytest.importorskip("casadi")

from tests.conftest import shared_case  # noqa: E402

# ---------------------------------------------------------------------------------------------
# PowerModelsRestoration's AC MLD tests
# ---------------------------------------------------------------------------------------------
# Source: lanl-ansi/PowerModelsRestoration.jl test/mld.jl ("test ac ml": run_mld with
# ACPPowerModel) and test/mld_uc.jl ("test ac ml uc": run_mld_uc). `active_power_served` is the
# sum of served load in p.u. (base 100 MVA); the objective contains the bus, generator and shunt
# indicator terms (see gridshield.impact.mld_ac). Every load has weight 1 there; we give every
# priority class the same weight, which gives the same optimum and, with weight 1, the same
# objective value.

EQUAL = {k: 1.0 for k in ("critical", "essential", "residential", "commercial", "industrial")}

PMR_AC = [
    # file, commitment, served p.u., objective, tolerance on served p.u.
    ("pmr/case3_mld.m", "relaxed", 1.0343967674927383, 321.0343994279289, 1e-3),
    ("pmr/case3_mld.m", "milp", 1.0343425523566503, 321.03430048623324, 1e-3),
    ("pmr/case3_mld_s.m", "relaxed", 0.795164947910047, 339.012705296994, 1e-3),
    ("pmr/case3_mld_uc.m", "relaxed", 1.1343966796133428, 317.95051383124365, 1e-3),
    ("pmr/case3_mld_uc.m", "milp", 0.5000000199653287, 310.500000019965, 1e-3),
    ("pm/matpower/case24.m", "relaxed", 28.49999877675928, 9152.70006919554, 1e-2),
    ("pm/matpower/case24.m", "milp", 28.49984472637877, 9152.69940869897, 1e-2),
]


@pytest.mark.parametrize("path,commitment,served_pu,objective,tol", PMR_AC)
def test_powermodelsrestoration_ac_mld(path, commitment, served_pu, objective, tol):
    g = gs.read_matpower(shared_case(path))
    m = ImpactModel(g, model="ac", commitment=commitment, weights=EQUAL)
    r = m.assess()
    assert r.model == "ac" and all(i.model == "ac" for i in r.islands if i.status != "dark")
    assert r.served_mw / g.base_mva == pytest.approx(served_pu, abs=tol)
    obj = sum(i.objective for i in m.last_ac.islands.values())
    assert obj == pytest.approx(objective, abs=1e-2)  # PMR's own tolerance on the objective
    if path.endswith("case3_mld_uc.m"):
        zg = m.last_ac.zg
        if commitment == "relaxed":
            assert zg[0] == pytest.approx(0.681614, abs=1e-4)  # PMR: gen_status("1")
            assert zg[1] == pytest.approx(1.0, abs=1e-4)
        else:
            assert zg[0] == pytest.approx(0.0, abs=1e-6) and zg[1] == pytest.approx(1.0, abs=1e-6)
            assert r.stranded_gens == ("gen:1",)
    assert np.all(m.last_ac.zv[r.bus_energised] > 1 - 1e-3)  # PMR: all_voltages_on


def test_branch_and_bound_equals_enumeration():
    """run_mld_uc on case3_mld_uc: the branch and bound's objective equals the best of all 2^5
    on/off assignments of the generator and bus indicators, each solved by Ipopt."""
    from gridshield.impact.mld_ac import _OK, _Ipopt, _Nlp

    g = gs.read_matpower(shared_case("pmr/case3_mld_uc.m"))
    m = ImpactModel(g, model="ac", commitment="milp", weights=EQUAL)
    m.assess()
    bnb = sum(i.objective for i in m.last_ac.islands.values())
    # enumerate on the same NLP
    from gridshield.impact.mld import Setting

    ng, nb = len(g.gens), len(g.buses)
    s = Setting(np.ones(nb, bool), np.ones(len(g.branches), bool), np.ones(ng, bool), np.ones(len(g.loads), bool),
                np.array([0]), g.gens.p_min_mw / 100, g.gens.p_max_mw / 100, True, np.zeros(nb, np.int64))
    start = {"va": np.zeros(nb), "vm": np.ones(nb), "pg": np.zeros(ng), "qg": np.zeros(ng),
             "zd": np.ones(len(g.loads)), "gen_on": np.ones(ng, bool)}
    nlp = _Nlp(m._ac, s, np.arange(nb), start)
    solver = _Ipopt(nlp)
    idx = np.r_[nlp.o_zg : nlp.o_zg + ng, nlp.o_zv : nlp.o_zv + nb]
    best = -np.inf
    x0 = nlp.x0
    for bits in itertools.product((0.0, 1.0), repeat=idx.size):
        lb, ub = nlp.lbx.copy(), nlp.ubx.copy()
        lb[idx] = ub[idx] = bits
        st, x, obj, _ = solver.solve(x0, lb, ub)
        if st in _OK:
            best = max(best, -nlp.linear_objective(x) * m._ac.big_m)
    assert bnb == pytest.approx(best, abs=1e-4)
    assert best == pytest.approx(310.500000019965, abs=1e-2)


# ---------------------------------------------------------------------------------------------
# Hand-solved: only reactive power limits supply
# ---------------------------------------------------------------------------------------------


def _reactive_radial():
    """Bus 1 (generator, 0.95..1.05 p.u.) -- lossless line x = 0.2 p.u. -- bus 2 (100 MW + 100 MVAr,
    0.95..1.05 p.u.) -- short bay (x = 1e-4) -- bus 3 with a 100 MVAr capacitor bank. No ratings;
    the generator has plenty of P and Q."""
    B = gs.Buses(id=["bus:1", "bus:2", "bus:3"], number=[1, 2, 3], type=[3, 1, 1],
                 substation=["A", "B", "B-cap"], vmin_pu=[0.95] * 3, vmax_pu=[1.05] * 3)
    L = gs.Branches(id=["branch:1", "branch:2"], from_bus=[0, 1], to_bus=[1, 2], r_pu=[0.0, 0.0],
                    x_pu=[0.2, 1e-4], rate_a_mva=[0.0, 0.0])
    G = gs.Generators(id=["gen:1"], bus=[0], p_mw=[100.0], p_min_mw=[0.0], p_max_mw=[1000.0],
                      q_min_mvar=[-500.0], q_max_mvar=[500.0])
    D = gs.Loads(id=["load:1"], bus=[1], p_mw=[100.0], q_mvar=[100.0])
    S = gs.Shunts(id=["shunt:1"], bus=[2], b_mvar=[100.0])
    return gs.Grid(buses=B, branches=L, gens=G, loads=D, shunts=S, name="reactive-radial")


def _hand_served_mw() -> float:
    """Receiving end of a lossless line: P x = V1 V2 sin d, Q x = V1 V2 cos d - V2^2 with Q = k P
    (k = Qd/Pd = 1). Eliminating d: (1 + k^2) y^2 + 2 k V2^2 y + V2^4 - V1^2 V2^2 = 0 with y = P x.
    The optimum sends at V1 = vmax = 1.05 and receives at V2 = vmin = 0.95 (the nose of the PV
    curve, V1 / sqrt(2 (1 + sin phi)) = 0.57, is far below vmin, so P grows as V2 falls)."""
    k, v1, v2, x = 1.0, 1.05, 0.95, 0.2
    a, b, c = 1 + k * k, 2 * k * v2**2, v2**4 - (v1 * v2) ** 2
    y = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return 100.0 * y / x  # MW on a 100 MVA base


@pytest.mark.parametrize("commitment", ["fixed", "milp", "relaxed"])
def test_reactive_limited_radial_hand_solved(commitment):
    g = _reactive_radial()
    intact_ac = assess_damage(g, model="ac", commitment=commitment)
    assert intact_ac.served_mw == pytest.approx(100.0, abs=1e-4)  # the capacitor carries the load
    hit_dc = assess_damage(g, "branch:2")
    hit = assess_damage(g, "branch:2", model="ac", commitment=commitment)
    assert hit_dc.served_mw == pytest.approx(100.0)  # DC sees no limit at all
    assert _hand_served_mw() == pytest.approx(45.4269, abs=1e-4)
    assert hit.served_mw == pytest.approx(_hand_served_mw(), abs=1e-4)
    main = next(i for i in hit.islands if i.status == "energised")
    assert main.model == "ac" and {"vmin bus:2", "vmax bus:1"} <= set(main.binding)
    assert hit.bus_vm_pu[:2] == pytest.approx([1.05, 0.95], abs=1e-6)
    # constant power factor: the load's reactive draw is shed alike
    assert hit.load_served_mw[0] == pytest.approx(hit.served_mw)


def test_no_reactive_support_is_infeasible_with_a_reason():
    """With every load held (shed=False) and no reactive source, the island has no AC point."""
    g = _reactive_radial()
    g = g.replace(gens=g.gens.replace(q_min_mvar=np.array([0.0]), q_max_mvar=np.array([0.0])))
    r = assess_damage(g, "branch:2", model="ac", commitment="fixed", shed=False)
    bad = [i for i in r.islands if i.status == "infeasible"]
    assert len(bad) == 1 and "reactive" in bad[0].reason and bad[0].model == "ac"
    assert r.served_mw == 0.0


# ---------------------------------------------------------------------------------------------
# Random damages of case118 and case300: feasibility, relaxation bound, heuristic
# ---------------------------------------------------------------------------------------------


def _ppc_at(grid, r):
    """PYPOWER case of the AC MLD point: served loads, generator P and voltage set points from
    the answer, one reference bus per island (the same as the MLD's)."""
    from gridshield.grid.ppc import to_ppc

    ppc = to_ppc(grid)
    base = grid.base_mva
    on = r.bus_energised
    ld = grid.loads
    frac = np.where(ld.p_mw != 0, r.load_served_mw / np.where(ld.p_mw != 0, ld.p_mw, 1), on[ld.bus] * 1.0)
    bus = ppc["bus"]
    pd = np.bincount(ld.bus, r.load_served_mw, len(grid.buses))
    qd = np.bincount(ld.bus, ld.q_mvar * frac, len(grid.buses))
    bus[:, 2], bus[:, 3] = pd, qd
    gen_on = r.gen_p_mw != 0
    gen_on |= grid.gens.in_service & on[grid.gens.bus] & ~np.isin(grid.gens.id, r.stranded_gens + r.damage)
    gen = ppc["gen"]
    gen[:, 1] = r.gen_p_mw
    gen[:, 5] = r.bus_vm_pu[grid.gens.bus]
    gen[:, 7] = gen_on.astype(float)
    bus[:, 1] = np.where(on, 1, 4)
    bus[np.unique(grid.gens.bus[gen_on]), 1] = 2
    # one slack per island: the first live generator's bus (any generator bus of the island will
    # do: the MLD point satisfies every balance, so the slack takes the MLD's output)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    brm = grid.branches
    live_br = on[brm.from_bus] & on[brm.to_bus] & brm.in_service & ~np.isin(brm.id, r.damage)
    nb = len(grid.buses)
    adj = coo_matrix((np.ones(int(live_br.sum())), (brm.from_bus[live_br], brm.to_bus[live_br])), shape=(nb, nb))
    _, lab = connected_components(adj, directed=False)
    seen = set()
    for k in np.flatnonzero(gen_on):
        b = grid.gens.bus[k]
        if lab[b] not in seen:
            seen.add(lab[b])
            bus[b, 1] = 3
    bus[:, 7] = np.where(on, r.bus_vm_pu, 1.0)
    bus[:, 8] = np.where(on, r.bus_va_deg, 0.0)
    br = ppc["branch"]
    br[:, 10] = (r.branch_flow_mw != 0) | (on[grid.branches.from_bus] & on[grid.branches.to_bus]
                                          & grid.branches.in_service & ~np.isin(grid.branches.id, r.damage))
    shunt_gs = np.bincount(grid.shunts.bus, grid.shunts.g_mw, len(grid.buses))
    shunt_bs = np.bincount(grid.shunts.bus, grid.shunts.b_mvar, len(grid.buses))
    bus[:, 4], bus[:, 5] = shunt_gs, shunt_bs
    del base
    return ppc


def _transport_bound_mw(grid, r, rate_mw):
    """A valid relaxation of the AC MLD (commitment 'fixed'): per energised island, generators within
    [Pmin, Pmax], loads in [0, Pd], each branch end |p| <= rating with losses p_f + p_t >= 0
    (r >= 0), shunt conductance drawing Gs vm^2 within the voltage limits; KVL and Q dropped.
    Solved by scipy's HiGHS."""
    from scipy.optimize import linprog

    base = grid.base_mva
    on = r.bus_energised
    br, g, ld = grid.branches, grid.gens, grid.loads
    assert np.all(br.r_pu >= 0) and np.all(grid.shunts.g_mw >= 0)
    lon = on[br.from_bus] & on[br.to_bus] & br.in_service & ~np.isin(br.id, r.damage)
    gon = on[g.bus] & g.in_service & ~np.isin(g.id, r.damage)
    don = on[ld.bus] & ld.in_service & ~np.isin(ld.id, r.damage)
    L, G, D = np.flatnonzero(lon), np.flatnonzero(gon), np.flatnonzero(don)
    nb = len(grid.buses)
    nL, nG, nD = L.size, G.size, D.size
    # columns: pf (nL), pt (nL), pg (nG), ps (nD), gsh (nb)
    n = 2 * nL + nG + nD + nb
    c = np.zeros(n)
    c[2 * nL + nG : 2 * nL + nG + nD] = -1.0
    A = np.zeros((nb, n))
    A[br.from_bus[L], np.arange(nL)] += 1
    A[br.to_bus[L], nL + np.arange(nL)] += 1
    A[g.bus[G], 2 * nL + np.arange(nG)] -= 1
    A[ld.bus[D], 2 * nL + nG + np.arange(nD)] += 1
    A[np.arange(nb), 2 * nL + nG + nD + np.arange(nb)] += 1
    rate = rate_mw[L] / base
    big = 1e3
    rb = np.where(rate > 0, rate, big)
    gsb = np.bincount(grid.shunts.bus, grid.shunts.g_mw, nb) / base
    vmin, vmax = grid.buses.vmin_pu, grid.buses.vmax_pu
    pd = ld.p_mw[D] / base
    bounds = ([(-x, x) for x in rb] * 2 + [(lo, hi) for lo, hi in zip(g.p_min_mw[G] / base, g.p_max_mw[G] / base)]
              + [(min(0, p), max(0, p)) if p >= 0 else (p, p) for p in pd]
              + [(gs_ * vmin[i] ** 2, gs_ * vmax[i] ** 2) if on[i] else (0, 0) for i, gs_ in enumerate(gsb)])
    A_ub = np.zeros((nL, n))
    A_ub[np.arange(nL), np.arange(nL)] = -1
    A_ub[np.arange(nL), nL + np.arange(nL)] = -1  # -(pf + pt) <= 0
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(nL), A_eq=A[on], b_eq=np.zeros(int(on.sum())), bounds=bounds,
                  method="highs")
    assert res.status == 0
    return float(np.sum(res.x[2 * nL + nG : 2 * nL + nG + nD][pd > 0]) * base)


def _shed_until_feasible_mw(grid, dmg, rate_mw):
    """The heuristic the AC MLD must beat: the DC MLD ('fixed' commitment), then an AC power flow
    (one slack per island); while it fails or violates a limit (voltage, slack P/Q, any generator
    Q, rating), scale every served load down by 2 % and retry."""
    from gridshield.flow.ac import solve_ac
    from gridshield.impact.ac import operating_grid

    m = ImpactModel(grid, commitment="fixed", weights=EQUAL)
    r = m.assess(dmg)
    on = r.bus_energised
    br, g = grid.branches, grid.gens
    bon = on[br.from_bus] & on[br.to_bus] & br.in_service & ~np.isin(br.id, r.damage)
    gon = on[g.bus] & g.in_service & ~np.isin(g.id, r.damage)
    for step in range(51):
        scale = 1.0 - 0.02 * step
        served = r.load_served_mw * scale
        pg = r.gen_p_mw * scale
        pf = solve_ac(operating_grid(grid, served, pg, on, bon, gon), init="dc", enforce_q_limits=False, robust=True)
        if not pf.converged:
            continue
        vm = pf.vm_pu
        b = grid.buses
        s = np.maximum(np.hypot(pf.p_from_mw, pf.q_from_mvar), np.hypot(pf.p_to_mw, pf.q_to_mvar))
        ok = np.all((vm[on] >= b.vmin_pu[on] - 1e-6) & (vm[on] <= b.vmax_pu[on] + 1e-6))
        ok &= np.all(~bon | (rate_mw <= 0) | (s <= rate_mw * (1 + 1e-6)))
        ok &= np.all(~gon | ((pf.gen_q_mvar >= g.q_min_mvar - 1e-4) & (pf.gen_q_mvar <= g.q_max_mvar + 1e-4)))
        ok &= np.all(~gon | ((pf.gen_p_mw >= g.p_min_mw - 1e-4) & (pf.gen_p_mw <= g.p_max_mw + 1e-4)))
        if ok:
            return float(served[grid.loads.p_mw > 0].sum())
    return 0.0


def _random_damage(grid, rng, k=3):
    ids = [f"branch:{i + 1}" for i in range(len(grid.branches))] + [f"gen:{i + 1}" for i in range(len(grid.gens))]
    return list(rng.choice(ids, k, replace=False))


@pytest.mark.parametrize("name,seeds", [("case118", range(4)), ("case300", range(3))])
def test_random_damage_feasible_bounded_and_beats_heuristic(name, seeds):
    import pypower.api as pypower

    grid = gs.load_case(name)
    m = ImpactModel(grid, model="ac", commitment="fixed", weights=EQUAL)
    for seed in seeds:
        dmg = _random_damage(grid, np.random.default_rng(seed))
        r = m.assess(dmg)
        # islands with generators but no load are "stranded" (issue 13): no model serves anything there
        assert all(i.model == "ac" and i.status == "energised" for i in r.islands
                   if i.status not in ("dark", "stranded")), dmg
        # 1) an independent AC power flow at the AC MLD point converges to it, within every limit
        ppc = _ppc_at(grid, r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res, ok = pypower.runpf(ppc, pypower.ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10))
        assert ok, dmg
        on = r.bus_energised
        vm = res["bus"][:, 7]
        assert np.max(np.abs(vm[on] - r.bus_vm_pu[on])) < 1e-6, dmg
        b = grid.buses
        assert np.all(vm[on] >= b.vmin_pu[on] - 1e-6) and np.all(vm[on] <= b.vmax_pu[on] + 1e-6)
        gen = res["gen"]
        gon = gen[:, 7] > 0
        base = grid.base_mva
        g = grid.gens
        assert np.all(gen[gon, 2] <= g.q_max_mvar[gon] + 1e-6 * base)
        assert np.all(gen[gon, 2] >= g.q_min_mvar[gon] - 1e-6 * base)
        assert np.all(gen[gon, 1] <= g.p_max_mw[gon] + 1e-6 * base)
        assert np.all(gen[gon, 1] >= g.p_min_mw[gon] - 1e-6 * base)
        brr = res["branch"]
        live = brr[:, 10] > 0
        s = np.maximum(np.hypot(brr[:, 13], brr[:, 14]), np.hypot(brr[:, 15], brr[:, 16]))
        rate = grid.branches.rate_a_mva
        lim = live & (rate > 0)
        assert np.all(s[lim] <= rate[lim] * (1 + 1e-6)), dmg
        # 2) no more than the transport relaxation (a valid bound: KVL and Q dropped)
        bound = _transport_bound_mw(grid, r, rate)
        assert r.served_mw <= bound + 1e-4, dmg
        # 3) at least what 'DC MLD, then AC check and shed until feasible' serves
        heur = _shed_until_feasible_mw(grid, dmg, rate)
        assert r.served_mw >= heur - 1e-3, dmg


def test_failed_island_shows_the_dc_answer_flagged(monkeypatch):
    """An island where Ipopt stops without converging keeps the DC numbers, flagged."""
    import gridshield.impact.mld_ac as mac

    g = gs.load_case("case118")
    dc = assess_damage(g, ["branch:9"])
    monkeypatch.setattr(mac, "IPOPT_MAX_ITER", 1)
    r = assess_damage(g, ["branch:9"], model="ac")
    failed = [i for i in r.islands if i.status == "ac-failed"]
    assert failed and all(i.model == "dc" and "did not converge" in i.reason for i in failed)
    assert r.served_mw == pytest.approx(dc.served_mw)
    assert "AC failed" in r.summary()["model"]
    assert r.to_dict()["islands"][0]["model"] == "dc"


def test_ac_options_and_errors():
    g = gs.load_case("case9")
    with pytest.raises(gs.GridshieldError, match="model must be one of"):
        ImpactModel(g, model="acp")
    r = assess_damage(g, model="ac")
    d = r.to_dict()
    assert d["model"] == "ac" and d["options"]["model"] == "ac"
    assert len(d["ac_point"]["bus_vm_pu"]) == len(g.buses)
    assert r.served_mw == pytest.approx(r.demand_mw, abs=1e-3)  # case9 serves everything


# ---------------------------------------------------------------------------------------------
# CLI and restoration
# ---------------------------------------------------------------------------------------------


def test_cli_impact_model_ac(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "gridshield", "impact", "case118", "--damage", "branch:9,gen:3",
                          "--model", "ac", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Islands" in res.stdout and " AC " in res.stdout and "This program contains Ipopt" not in res.stdout
    d = json.loads(out.read_text())
    ref = assess_damage(gs.load_case("case118"), ["branch:9", "gen:3"], model="ac")
    assert d["model"] == "ac" and d["served_mw"] == pytest.approx(ref.served_mw, abs=1e-6)
    assert d["ac_point"]["bus_vm_pu"] == pytest.approx(ref.bus_vm_pu.tolist(), abs=1e-9)
    res = subprocess.run([sys.executable, "-m", "gridshield", "impact", "case9", "--intact", "--model", "acp"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "model must be one of ('dc', 'ac')" in res.stderr


def test_restoration_with_the_ac_model(monkeypatch):
    """Repairing the capacitor bay of the reactive radial: AC serves the hand-computed 45.43 MW
    until the repair, DC would claim 100 MW all along."""
    from gridshield.restore import plan as rplan

    g = _reactive_radial()
    ac = rplan.plan_restoration(g, ["branch:2"], crews=1, method="milp", model="ac", commitment="fixed")
    dc = rplan.plan_restoration(g, ["branch:2"], crews=1, method="milp")
    assert ac.served_mw[0] == pytest.approx(_hand_served_mw(), abs=1e-4)
    assert ac.served_mw[-1] == pytest.approx(100.0, abs=1e-4)
    assert dc.served_mw[0] == pytest.approx(100.0)
    assert ac.summary()["served-load model"] == "ac" and dc.summary()["served-load model"] == "dc"
    assert ac.ens_mwh == pytest.approx((100.0 - _hand_served_mw()) * ac.makespan_h, rel=1e-6)
    monkeypatch.setattr(rplan, "AC_MAX_BUSES", 2)
    with pytest.raises(gs.GridshieldError, match="limited to 2 buses"):
        rplan.plan_restoration(g, ["branch:2"], crews=1, model="ac")


# ---------------------------------------------------------------------------------------------
# Speed devices: the warm start, lazy rating rows, the dispatch tie-break
# ---------------------------------------------------------------------------------------------


def test_warm_start_spreads_the_losses_over_every_unit():
    """ac_start_point: after the power flow of a DC point, the slack's extra output (the losses)
    moves onto every unit of the island in proportion to its headroom; the second power flow
    balances with the slack near its DC output."""
    from gridshield.flow.ac import solve_ac
    from gridshield.impact.ac import ac_start_point, operating_grid

    g = gs.load_case("case118")
    m = ImpactModel(g, commitment="fixed")
    r = m.assess(["branch:9", "gen:3"])
    on = r.bus_energised
    br, gen = g.branches, g.gens
    bon = on[br.from_bus] & on[br.to_bus] & br.in_service & ~np.isin(br.id, r.damage)
    gon = on[gen.bus] & gen.in_service & ~np.isin(gen.id, r.damage)
    plain = solve_ac(operating_grid(g, r.load_served_mw, r.gen_p_mw, on, bon, gon), init="dc", enforce_q_limits=True,
                     robust=True)
    losses = float(plain.gen_p_mw.sum() - r.gen_p_mw.sum())
    assert plain.converged and losses > 10.0  # one slack takes them all
    from gridshield.topology import islands

    lab = np.maximum(islands(g, bon, on).label, 0)
    pf, served, pg = ac_start_point(g, r.load_served_mw, r.gen_p_mw, on, bon, gon, gen.p_min_mw, gen.p_max_mw, lab)
    assert pf.converged
    np.testing.assert_allclose(served, r.load_served_mw)  # enough headroom: nothing shed
    # per island: the losses spread by headroom (gen_p_mw - DC at the slack of the first flow)
    gl = lab[gen.bus]
    up = np.where(gon, gen.p_max_mw - r.gen_p_mw, 0.0)
    excess = np.bincount(gl, np.where(gon, plain.gen_p_mw - r.gen_p_mw, 0.0))
    f = excess / np.bincount(gl, up)
    slack = np.abs(plain.gen_p_mw - r.gen_p_mw) > 1e-6
    assert slack.sum() == 1 and excess.max() == pytest.approx(losses)
    rest = gon & ~slack & (plain.bus_type[gen.bus] != 3)
    np.testing.assert_allclose(pg[rest], r.gen_p_mw[rest] + f[gl[rest]] * up[rest], atol=1e-9)
    # the slack now only takes the change of the losses between the two power flows
    k = np.flatnonzero(slack)[0]
    assert abs(pg[k] - (r.gen_p_mw[k] + f[gl[k]] * up[k])) < 0.1 * losses
    assert np.all(pg[gon] <= gen.p_max_mw[gon] + 1e-6)


def _rated_case118():
    """case118 with ratings 5 % above the intact AC flows (it has none)."""
    from gridshield.flow.ac import solve_ac

    g = gs.load_case("case118")
    pf = solve_ac(g)
    s = np.maximum(np.hypot(pf.p_from_mw, pf.q_from_mvar), np.hypot(pf.p_to_mw, pf.q_to_mvar))
    return g.replace(branches=g.branches.replace(rate_a_mva=1.05 * s + 1.0))


def test_lazy_rating_rows_give_the_all_rows_answer(monkeypatch):
    """Rating rows added lazily (none at the start, then the overloaded ends, round after round)
    give the answer of the NLP with every rating row, and hold every rating."""
    import gridshield.impact.mld_ac as mac

    g = _rated_case118()
    dmg = ["branch:9", "branch:38", "gen:3"]
    monkeypatch.setattr(mac, "WATCH_LOADING", 0.0)  # every rated end from the start
    full = ImpactModel(g, model="ac", commitment="fixed", weights=EQUAL).assess(dmg)
    monkeypatch.setattr(mac, "WATCH_LOADING", 10.0)  # none: rows only once overloaded
    m = ImpactModel(g, model="ac", commitment="fixed", weights=EQUAL)
    lazy = m.assess(dmg)
    assert "rounds of rating rows" in lazy.method and "rounds" not in full.method
    assert any(b.startswith("rate") for i in lazy.islands for b in i.binding)
    assert lazy.served_mw == pytest.approx(full.served_mw, abs=1e-3)
    s2 = np.maximum(m.last_ac.p_from**2 + m.last_ac.q_from**2, m.last_ac.p_to**2 + m.last_ac.q_to**2)
    rate = g.branches.rate_a_mva / g.base_mva
    assert np.all(s2 <= rate**2 + mac.CONSTR_VIOL_TOL * 1.01)  # the row is |S|^2 <= rate^2 (p.u.)


@pytest.mark.parametrize("seed", range(3))
def test_dispatch_tie_break_moves_the_served_load_little(monkeypatch, seed):
    """The tie-break toward the warm start (DISPATCH_TIE) against none, on random damages of
    case300: the served load agrees to 0.2 MW (of 23,848 MW)."""
    import gridshield.impact.mld_ac as mac

    g = gs.load_case("case300")
    dmg = _random_damage(g, np.random.default_rng(100 + seed))
    tied = ImpactModel(g, model="ac", commitment="fixed", weights=EQUAL).assess(dmg)
    monkeypatch.setattr(mac, "DISPATCH_TIE", 0.0)
    free = ImpactModel(g, model="ac", commitment="fixed", weights=EQUAL).assess(dmg)
    assert tied.model_label == free.model_label == "ac"
    assert tied.served_mw == pytest.approx(free.served_mw, abs=0.2), dmg
