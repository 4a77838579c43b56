"""AC power flow against PYPOWER (MATPOWER's Python port) and hand-built island references."""

from __future__ import annotations

import inspect
import json
import types
import warnings

import numpy as np
import pypower.api as pypower
import pytest

import gridshield as gs
from gridshield.flow.ac import AcSolver, solve_ac
from gridshield.flow.linsolve import available_backends
from gridshield.grid.ppc import to_ppc


# MATPOWER bus/gen/branch result columns (0-based)
VM, VA, PG, QG, PF, QF, PT, QT = 7, 8, 1, 2, 13, 14, 15, 16
TOL_VM, TOL_VA, TOL_FLOW = 1e-6, 1e-4, 1e-3

AGREEMENT_CASES = [
    "case9", "case14", "case24_ieee_rts", "case30", "case39", "case57", "case89pegase", "case118", "case300",
    "case_ACTIVSg2000", "case2869pegase", "case9241pegase", "case_ACTIVSg25k",
]


def _runpf(ppc: dict, qlim: int = 0) -> tuple[dict, bool]:
    opt = pypower.ppoption(VERBOSE=0, OUT_ALL=0, PF_TOL=1e-10, ENFORCE_Q_LIMS=qlim)
    runpf = _runpf_qfix() if qlim else pypower.runpf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, ok = runpf(ppc, opt)
    return res, bool(ok)


def _runpf_qfix():
    """PYPOWER's own runpf with three indexing bugs of its ENFORCE_Q_LIMS branch fixed
    (float generator bus numbers used as indices, an operator-precedence slip and a shape-
    mismatched comparison in pypower 5.1.x); the algorithm is untouched."""
    import pypower.runpf as m

    src = inspect.getsource(m)
    fixes = [
        (
            "(bus[gen[:, GEN_BUS], BUS_TYPE] == PV | \n                                      bus[gen[:, GEN_BUS], BUS_TYPE] == REF))",
            "((bus[gen[:, GEN_BUS].astype(int), BUS_TYPE] == PV) | (bus[gen[:, GEN_BUS].astype(int), BUS_TYPE] == REF)))",
        ),
        ("any(bus[gen[mx, GEN_BUS], BUS_TYPE] == REF)", "any(bus[gen[mx, GEN_BUS].astype(int), BUS_TYPE] == REF)"),
        ("bi = gen[limited[i], GEN_BUS]  ", "bi = int(gen[limited[i], GEN_BUS])"),
        ("if len(infeas) == len(remaining) or all(infeas == remaining):", "if len(infeas) == len(remaining):"),
    ]
    for a, b in fixes:
        assert a in src, f"pypower runpf changed; cannot patch {a!r}"
        src = src.replace(a, b)
    mod = types.ModuleType("pypower_runpf_qfix")
    exec(compile(src, "pypower_runpf_qfix", "exec"), mod.__dict__)
    return mod.runpf


def _assert_agree(r, res, what: str) -> None:
    bus, br, gen = res["bus"], res["branch"], res["gen"]
    dvm = np.abs(r.vm_pu - bus[:, VM]).max()
    dva = np.abs(r.va_deg - bus[:, VA]).max()
    assert dvm <= TOL_VM, f"{what}: |dVm| = {dvm:.3g} pu"
    assert dva <= TOL_VA, f"{what}: |dVa| = {dva:.3g} deg"
    for mine, col in ((r.p_from_mw, PF), (r.q_from_mvar, QF), (r.p_to_mw, PT), (r.q_to_mvar, QT)):
        d = np.abs(mine - br[:, col]).max()
        assert d <= TOL_FLOW, f"{what}: branch flow column {col} differs by {d:.3g}"
    dpg = np.abs(r.gen_p_mw - gen[:, PG]).max()
    assert dpg <= TOL_FLOW, f"{what}: gen P differs by {dpg:.3g} MW"
    # PYPOWER's Q split gives NaN for generators with infinite Q limits sharing a bus; compare the rest
    ok = np.isfinite(gen[:, QG])
    dqg = np.abs(r.gen_q_mvar[ok] - gen[ok, QG]).max(initial=0.0)
    assert dqg <= TOL_FLOW, f"{what}: gen Q differs by {dqg:.3g} MVAr"


@pytest.fixture(scope="module")
def grids():
    cache: dict[str, gs.Grid] = {}

    def get(name: str) -> gs.Grid:
        if name not in cache:
            cache[name] = gs.load_case(name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", AGREEMENT_CASES)
def test_agrees_with_pypower(grids, name):
    grid = grids(name)
    res, ok = _runpf(to_ppc(grid))
    assert ok, f"PYPOWER did not converge on {name}"
    r = solve_ac(grid)
    assert r.converged and r.reason == "converged"
    assert r.max_mismatch_pu < 1e-8
    assert 0 < r.iterations <= 10
    _assert_agree(r, res, name)
    assert np.allclose(r.loss_mw, r.p_from_mw + r.p_to_mw)
    assert r.bus_energised.all() and r.n_islands == 1


def test_flat_and_dc_start_reach_the_same_solution(grids):
    grid = grids("case300")
    base = solve_ac(grid)
    for init in ("flat", "dc"):
        r = solve_ac(grid, init=init, robust=True)
        assert r.converged, init
        assert np.abs(r.vm_pu - base.vm_pu).max() < 1e-7
        assert np.abs(r.va_deg - base.va_deg).max() < 1e-5


def test_linear_solver_backends_agree(grids):
    grid = grids("case118")
    ref = solve_ac(grid, linear_solver="scipy")
    assert ref.converged
    for be in available_backends():
        r = solve_ac(grid, linear_solver=be)
        assert r.converged and r.linear_solver == be
        assert np.abs(r.vm_pu - ref.vm_pu).max() < 1e-9


def test_q_limits_match_pypower_enforce_q_lims(grids):
    # case118: six generators hit a Q limit (the slack does not), so PYPOWER's path is exact here
    grid = grids("case118")
    res, ok = _runpf(to_ppc(grid), qlim=1)
    assert ok
    r = solve_ac(grid, enforce_q_limits=True)
    assert r.converged
    assert int(r.gen_q_limited.sum()) == 6
    _assert_agree(r, res, "case118 ENFORCE_Q_LIMS=1")
    g = grid.gens
    lim = r.gen_q_limited
    at_limit = np.isclose(r.gen_q_mvar[lim], g.q_max_mvar[lim]) | np.isclose(r.gen_q_mvar[lim], g.q_min_mvar[lim])
    assert at_limit.all()
    on = g.in_service
    assert np.all(r.gen_q_mvar[on] <= g.q_max_mvar[on] + 1e-4) and np.all(r.gen_q_mvar[on] >= g.q_min_mvar[on] - 1e-4)
    # without enforcement the limits are violated (so the test exercises the switching)
    free = solve_ac(grid)
    assert np.any((free.gen_q_mvar > g.q_max_mvar + 1e-3) | (free.gen_q_mvar < g.q_min_mvar - 1e-3))


def test_slack_at_q_limit_moves_the_slack(grids):
    # case14: the slack generator itself hits its lower Q limit; a PV bus takes over as slack and
    # every generator ends inside its limits, with the original slack angle kept
    grid = grids("case14")
    r = solve_ac(grid, enforce_q_limits=True)
    assert r.converged
    g = grid.gens
    assert r.gen_q_limited[0]
    assert np.all(r.gen_q_mvar <= g.q_max_mvar + 1e-4) and np.all(r.gen_q_mvar >= g.q_min_mvar - 1e-4)
    ref = int(np.flatnonzero(grid.buses.type == 3)[0])
    assert r.va_deg[ref] == pytest.approx(grid.buses.va_deg[ref], abs=1e-9)


def _island_ppc(grid: gs.Grid, on: np.ndarray, buses: np.ndarray) -> dict:
    """PYPOWER case of one island: its buses, its in-service branches, its generators."""
    ppc = to_ppc(grid)
    keep_bus = np.zeros(len(grid.buses), dtype=bool)
    keep_bus[buses] = True
    br = ppc["branch"][on & keep_bus[grid.branches.from_bus]]
    gen = ppc["gen"][keep_bus[grid.gens.bus]]
    bus = ppc["bus"][keep_bus].copy()
    if not np.any(bus[:, 1] == 3):  # no reference bus: the largest generator's bus (by Pmax)
        num = gen[np.argmax(gen[:, 8]), 0]
        bus[bus[:, 0] == num, 1] = 3
    return {"version": "2", "baseMVA": ppc["baseMVA"], "bus": bus, "gen": gen, "branch": br}


def test_two_islands_each_solved_with_its_own_slack(grids):
    grid = grids("case14")
    br = grid.branches
    num = grid.buses.number
    # cut {1, 2, 5} (slack and gen 2) from the rest: branches 1-5, 2-3, 2-4, 4-5 (and 5-6)
    cut = {(1, 5), (2, 3), (2, 4), (4, 5), (5, 6)}
    pairs = list(zip(num[br.from_bus].tolist(), num[br.to_bus].tolist(), strict=True))
    on = np.array([p not in cut and p[::-1] not in cut for p in pairs]) & br.in_service
    r = AcSolver(grid).solve(branch_in_service=on)
    assert r.converged and r.n_islands == 2 and r.bus_energised.all()
    for island in range(2):
        buses = np.flatnonzero(r.island == island)
        res, ok = _runpf(_island_ppc(grid, on, buses))
        assert ok
        sub = np.isin(np.arange(len(grid.buses)), buses)
        assert np.abs(r.vm_pu[sub] - res["bus"][:, VM]).max() <= TOL_VM
        # angles are relative to each island's own slack
        assert np.abs(r.va_deg[sub] - res["bus"][:, VA]).max() <= TOL_VA
        rows = np.flatnonzero(on & sub[br.from_bus])
        assert np.abs(r.p_from_mw[rows] - res["branch"][:, PF]).max() <= TOL_FLOW
        assert np.abs(r.q_to_mvar[rows] - res["branch"][:, QT]).max() <= TOL_FLOW
        gens = np.flatnonzero(sub[grid.gens.bus])
        assert np.abs(r.gen_p_mw[gens] - res["gen"][:, PG]).max() <= TOL_FLOW
    # the island without the case's reference bus got a slack of its own
    assert (r.bus_type == 3).sum() == 2
    assert np.all(r.p_from_mw[~on] == 0) and np.all(r.q_to_mvar[~on] == 0)


def test_dark_island_is_zero_not_nan(grids):
    grid = grids("case14")
    br = grid.branches
    num = grid.buses.number
    # isolate load buses 9, 10, 14 (no generation): open 4-9, 7-9, 10-11, 13-14
    cut = {(4, 9), (7, 9), (10, 11), (13, 14)}
    pairs = list(zip(num[br.from_bus].tolist(), num[br.to_bus].tolist(), strict=True))
    on = np.array([p not in cut for p in pairs]) & br.in_service
    r = solve_ac(grid, branch_in_service=on)
    dark = np.isin(num, [9, 10, 14])
    assert r.converged and r.n_islands == 2
    assert not r.bus_energised[dark].any() and r.bus_energised[~dark].all()
    assert np.all(r.vm_pu[dark] == 0) and np.all(r.va_deg[dark] == 0)
    assert np.all(r.bus_type[dark] == 4)
    for arr in (r.vm_pu, r.va_deg, r.p_from_mw, r.q_from_mvar, r.p_to_mw, r.q_to_mvar, r.gen_p_mw, r.gen_q_mvar):
        assert np.all(np.isfinite(arr))
    inside = on & dark[br.from_bus] & dark[br.to_bus]
    assert inside.any() and np.all(r.p_from_mw[inside] == 0)
    # the energised part matches PYPOWER on that island alone
    res, ok = _runpf(_island_ppc(grid, on, np.flatnonzero(~dark)))
    assert ok and np.abs(r.vm_pu[~dark] - res["bus"][:, VM]).max() <= TOL_VM
    json.dumps(r.to_dict())


def test_no_generation_anywhere_is_reported(grids):
    grid = grids("case9")
    r = AcSolver(grid).solve(gen_in_service=np.zeros(len(grid.gens), dtype=bool))
    assert not r.converged and r.reason == "no generation"
    assert not r.bus_energised.any() and np.all(r.vm_pu == 0)


def test_n1_outages_with_a_reused_solver_and_warm_start(grids):
    grid = grids("case118")
    solver = AcSolver(grid)
    base = solver.solve()
    ppc = to_ppc(grid)
    from gridshield.topology import bridges

    candidates = np.flatnonzero(~bridges(grid) & grid.branches.in_service)
    for k in candidates[[3, 40, 120]].tolist():  # non-islanding outages
        on = grid.branches.in_service.copy()
        on[k] = False
        r = solver.solve(branch_in_service=on, init=base)
        assert r.converged and r.iterations <= 5
        p = {**ppc, "branch": ppc["branch"].copy()}
        p["branch"][k, 10] = 0
        res, ok = _runpf(p)
        assert ok
        _assert_agree(r, res, f"case118 without branch {k + 1}")
        assert r.p_from_mw[k] == 0
    # the symbolic factorisation was reused: one pattern for the base and every outage
    assert len(solver._patterns) == 1


def test_non_convergence_is_reported(grids):
    grid = grids("case300")
    r = solve_ac(grid, max_iter=1)
    assert not r.converged and r.reason == "max iterations" and r.iterations == 1
    assert r.max_mismatch_pu > 1e-8
    d = r.to_dict()
    assert d["converged"] is False and d["reason"] == "max iterations"


def test_frames_and_dict(grids):
    grid = grids("case9")
    r = solve_ac(grid)
    bus = r.to_frame()
    assert list(bus.index) == list(grid.buses.id) and {"vm_pu", "va_deg", "energised"} <= set(bus.columns)
    brf = r.to_frame("branch")
    assert len(brf) == len(grid.branches) and "loading_pct" in brf.columns
    assert len(r.to_frame(kind="gen")) == len(grid.gens)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["converged"] is True and len(d["bus"]["vm_pu"]) == 9
    assert d["total_loss_mw"] == pytest.approx(r.total_loss_mw)
    with pytest.raises(gs.GridshieldError):
        r.to_frame("nope")
    with pytest.raises(gs.GridshieldError):
        solve_ac(grid, init="warm-ish")


def test_activsg10k_converges_from_case_and_from_dc_in_robust_mode(grids):
    grid = grids("case_ACTIVSg10k")
    solver = AcSolver(grid)
    base = solver.solve()
    assert base.converged and base.max_mismatch_pu < 1e-8
    r = solver.solve(init="dc", robust=True)
    assert r.converged
    assert np.abs(r.vm_pu - base.vm_pu).max() < 1e-6
    # plain Newton from a flat start diverges; robust mode gets there through the continuation
    assert not solver.solve(init="flat").converged
    r = solver.solve(init="flat", robust=True)
    assert r.converged and r.continuation_steps > 0
    assert np.abs(r.vm_pu - base.vm_pu).max() < 1e-6


def test_activsg70k_converges_from_case_and_from_dc_in_robust_mode(grids):
    grid = grids("case_ACTIVSg70k")
    solver = AcSolver(grid)
    base = solver.solve()
    assert base.converged and base.max_mismatch_pu < 1e-8 and base.iterations <= 10
    assert np.all(np.isfinite(base.vm_pu)) and base.vm_pu.min() > 0.8
    # plain Newton from DC angles diverges here; robust mode falls back to the continuation
    r = solver.solve(init="dc", robust=True)
    assert r.converged and r.max_mismatch_pu < 1e-8 and r.continuation_steps > 0
    assert np.abs(r.vm_pu - base.vm_pu).max() < 1e-6
    assert np.abs(r.va_deg - base.va_deg).max() < 1e-4


def test_warm_start_from_voltages(grids):
    grid = grids("case30")
    solver = AcSolver(grid)
    base = solver.solve()
    r = solver.solve(v0=base.v)
    assert r.converged and r.iterations <= 1
    assert np.abs(r.vm_pu - base.vm_pu).max() < 1e-9
    assert solver.solve(init=base).iterations <= 1


@pytest.mark.parametrize("name", ["case118", "case2869pegase"])
def test_continuation_reaches_the_newton_solution(grids, name):
    # the robust fallback on its own (normally used only when damped Newton fails)
    grid = grids(name)
    solver = AcSolver(grid)
    base = solver.solve()
    on = solver._mask(None)
    isl, _, gon, btype = solver._types(on, grid.gens.in_service)
    solver._isl = isl
    g = grid.gens
    sbus = (
        np.bincount(g.bus[gon], weights=g.p_mw[gon], minlength=len(grid.buses))
        + 1j * np.bincount(g.bus[gon], weights=g.q_mvar[gon], minlength=len(grid.buses))
    ) / grid.base_mva - solver.sd
    v_start = base.v  # only its slack angle is used
    v, ok, reason, it, norm, steps = solver._continuation(sbus, v_start, solver._pattern(btype), on, btype, gon, 1e-8, 30)
    assert ok and reason == "converged" and steps >= 2 and norm < 1e-8
    assert np.abs(np.abs(v) - base.vm_pu).max() < 1e-7


def test_solver_ybus_equals_make_ybus_with_outages(grids):
    from gridshield.flow.matrices import make_ybus

    grid = grids("case300")
    on = grid.branches.in_service.copy()
    on[[5, 77, 200]] = False
    y = AcSolver(grid).ybus(on)
    y0 = make_ybus(grid, in_service=on)[0]
    assert abs(y - y0).max() < 1e-9


def test_pf_cli(tmp_path, capsys):
    from gridshield.cli import main

    out = tmp_path / "pf.json"
    main(["pf", "case9", "--q-limits", "--out", str(out)])
    d = json.loads(out.read_text())
    assert d["converged"] is True and len(d["branch"]["p_from_mw"]) == 9
    text = capsys.readouterr().out
    assert "converged" in text and "most loaded branches" in text
    csv = tmp_path / "br.csv"
    main(["pf", "case9", "--dc", "--out", str(csv), "--table", "branch"])
    assert csv.read_text().startswith("id,p_from_mw")
    with pytest.raises(SystemExit) as exc:
        main(["pf", "case300", "--max-iter", "1"])
    assert exc.value.code == 1
    assert "did not converge" in capsys.readouterr().out
