"""PTDF / LODF against pandapower's makePTDF / makeLODF (MATPOWER's), and post-outage flows
against a fresh DC power flow with the branch(es) removed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
import scipy.sparse as sp

import gridshield as gs
from gridshield.flow.dc import DcSolver
from gridshield.flow.sensitivity import lodf, multi_outage_flows, outage_flows, ptdf
from gridshield.grid.ppc import to_ppc
from gridshield.topology import bridges

CASES = ["case118", "case2869pegase"]


@pytest.fixture(scope="module", params=CASES)
def setup(request):
    """Grid, solver, and pandapower's PTDF / LODF (reference bus as slack)."""
    from pandapower.pypower.makeLODF import makeLODF
    from pandapower.pypower.makePTDF import makePTDF
    from pypower.ext2int import ext2int

    grid = gs.load_case(request.param)
    ppc = ext2int(to_ppc(grid))  # the cases are in service and ordered: internal == our rows
    assert np.array_equal(ppc["bus"][:, 0], np.arange(len(grid.buses)))
    h = makePTDF(ppc["baseMVA"], ppc["bus"], ppc["branch"], using_sparse_solver=True)
    with np.errstate(all="ignore"):
        lo = makeLODF(ppc["branch"], h)
    return grid, DcSolver(grid), h, lo


def test_ptdf_equals_makeptdf(setup):
    grid, s, h, _ = setup
    p = ptdf(grid, solver=s)
    np.testing.assert_allclose(p, h, rtol=0, atol=1e-8)
    rng = np.random.default_rng(1)
    rows = rng.choice(len(grid.branches), 7, replace=False)
    cols = rng.choice(len(grid.buses), 5, replace=False)
    np.testing.assert_allclose(ptdf(grid, branches=rows, solver=s), h[rows], atol=1e-8)
    np.testing.assert_allclose(ptdf(grid, buses=cols, solver=s), h[:, cols], atol=1e-8)
    ids = [grid.branches.id[r] for r in rows]
    np.testing.assert_allclose(ptdf(grid, branches=ids, buses=cols, solver=s), h[np.ix_(rows, cols)], atol=1e-8)


def _isolated(grid, k):
    """Buses cut from the reference bus when branch k is removed (brute force)."""
    br = grid.branches
    keep = np.arange(len(br)) != k
    nb = len(grid.buses)
    adj = sp.csr_matrix((np.ones(keep.sum()), (br.from_bus[keep], br.to_bus[keep])), shape=(nb, nb))
    _, lab = connected_components(adj, directed=False)
    ref = int(np.flatnonzero(grid.buses.type == 3)[0])
    return np.flatnonzero(lab != lab[ref])


def test_lodf_equals_makelodf_and_flags_bridges(setup):
    grid, s, _, lo = setup
    r = lodf(grid, solver=s)
    br = bridges(grid)
    assert np.array_equal(r.islanding, br)
    assert np.all(np.isfinite(r.matrix))
    ok = ~br
    np.testing.assert_allclose(r.matrix[:, ok], lo[:, ok], rtol=0, atol=1e-8)
    # islanding columns: 0 with -1 on the outaged branch, and the isolated buses by brute force
    for k in np.flatnonzero(br)[:25]:
        col = r.matrix[:, k]
        assert col[k] == -1.0 and np.count_nonzero(col) == 1
        assert np.array_equal(np.sort(r.isolated_buses[k]), _isolated(grid, k))
    assert all(r.isolated_buses[k].size == 0 for k in np.flatnonzero(ok))
    # f' = f + LODF[:, k] f_k equals a fresh DC solve without branch k (non-islanding outages)
    f0 = gs.solve_dc(grid).p_from_mw
    for k in np.flatnonzero(ok)[:: max(1, ok.sum() // 40)]:
        np.testing.assert_allclose(f0 + r.matrix[:, k] * f0[k], _fresh(grid, k).p_from_mw, rtol=0, atol=1e-6)


def _fresh(grid, out):
    mask = grid.branches.in_service.copy()
    mask[out] = False
    return gs.solve_dc(grid, branch_in_service=mask)


def test_outage_flows_equal_fresh_dc_solves(setup):
    grid, s, _, _ = setup
    nl = len(grid.branches)
    br = bridges(grid)
    rng = np.random.default_rng(7)
    if nl < 500:
        ks = np.arange(nl)  # case118: every branch
    else:  # 50 random branches plus islanding outages of both kinds (dark / with generation)
        ks = rng.choice(nl, 50, replace=False)
    o = outage_flows(grid, solver=s, chunk=64)
    assert o.flows_mw.shape == (nl, nl)
    assert np.all(np.isfinite(o.flows_mw))
    assert np.array_equal(o.islanding, br)
    dark = o.isolated_dark & o.islanding
    live_gen = ~o.isolated_dark & o.islanding
    ks = np.unique(np.r_[ks, np.flatnonzero(dark)[:10], np.flatnonzero(live_gen)[:10]])
    assert live_gen.any() and dark.any()
    for k in ks:
        fresh = _fresh(grid, k)
        np.testing.assert_allclose(o.flows_mw[:, k], fresh.p_from_mw, rtol=0, atol=1e-6, err_msg=f"outage {k}")
        if o.islanding[k]:
            iso = o.isolated_buses[k]
            assert np.array_equal(np.sort(iso), _isolated(grid, k))
            assert o.isolated_dark[k] == (not fresh.bus_energised[iso].any())
            if o.isolated_dark[k]:
                load = grid.loads.p_mw[np.isin(grid.loads.bus, iso)].sum()
                assert o.isolated_load_mw[k] == pytest.approx(load)


def test_overload_summary_matches_flows(setup):
    grid, s, _, _ = setup
    rng = np.random.default_rng(11)
    ks = rng.choice(len(grid.branches), 40, replace=False)
    mon = rng.choice(len(grid.branches), 60, replace=False)
    full = outage_flows(grid, outages=ks, monitored=mon, solver=s, threshold_pct=80.0, chunk=16)
    lean = outage_flows(grid, outages=ks, monitored=mon, solver=s, threshold_pct=80.0, chunk=16, keep_flows=False)
    assert lean.flows_mw is None
    lim = grid.branches.rate_a_mva[mon]
    load = np.where(lim[:, None] > 0, 100 * np.abs(full.flows_mw) / np.where(lim > 0, lim, 1)[:, None], 0.0)
    np.testing.assert_allclose(full.max_loading_pct, load.max(axis=0), atol=1e-9)
    np.testing.assert_array_equal(full.n_overloads, (load > 80.0).sum(axis=0))
    jj, mm = np.nonzero((load > 80.0).T)
    np.testing.assert_array_equal(full.overload_outage, jj)
    np.testing.assert_array_equal(full.overload_branch, mon[mm])
    for a in ("max_loading_pct", "n_overloads", "worst_branch", "overload_branch", "overload_flow_mw"):
        np.testing.assert_allclose(getattr(lean, a), getattr(full, a))
    frame = full.to_frame()
    assert len(frame) == 40 and frame.index[0] == grid.branches.id[ks[0]]
    assert len(full.to_frame("overloads")) == full.overload_branch.size


def test_multi_outages_equal_fresh_dc_solves(setup):
    grid, s, _, _ = setup
    rng = np.random.default_rng(5)
    nl = len(grid.branches)
    br = np.flatnonzero(bridges(grid))
    sets = [rng.choice(nl, k, replace=False) for k in (1, 2, 2, 3, 3, 4, 5) for _ in range(3)]
    sets += [np.r_[br[0], rng.choice(nl, 2)], br[:2]]  # sets that island the grid
    m = multi_outage_flows(grid, sets, solver=s)
    for i, k in enumerate(sets):
        fresh = _fresh(grid, k)
        np.testing.assert_allclose(m.flows_mw[:, i], fresh.p_from_mw, rtol=0, atol=1e-6, err_msg=f"set {k}")
        assert m.islanding[i] == (fresh.n_islands > 1 or not fresh.bus_energised.all())
    # single-element sets agree with outage_flows
    singles = multi_outage_flows(grid, [[k] for k in range(10)], solver=s)
    one = outage_flows(grid, outages=range(10), solver=s)
    np.testing.assert_allclose(singles.flows_mw, one.flows_mw, atol=1e-8)


def test_degenerate_topologies_never_give_nan():
    """No generation at all (everything dark) and a bus out of service: finite results that equal
    fresh solves, JSON-ready."""
    import json

    grid = gs.load_case("case9")
    dark = grid.replace(gens=grid.gens.replace(in_service=np.zeros(len(grid.gens), bool)))
    assert not gs.solve_dc(dark).bus_energised.any()
    o = outage_flows(dark)
    assert np.all(o.flows_mw == 0.0) and not ptdf(dark).any()
    assert np.all(multi_outage_flows(dark, [[0, 1]]).flows_mw == 0.0)
    bus_on = grid.buses.in_service.copy()
    bus_on[4] = False
    g = grid.replace(buses=grid.buses.replace(in_service=bus_on))
    o = outage_flows(g)
    m = multi_outage_flows(g, [[0], [2, 3], [5, 6]])
    for j, k in enumerate(range(len(g.branches))):
        np.testing.assert_allclose(o.flows_mw[:, j], _fresh(g, k).p_from_mw, atol=1e-9)
    for i, k in enumerate([[0], [2, 3], [5, 6]]):
        np.testing.assert_allclose(m.flows_mw[:, i], _fresh(g, k).p_from_mw, atol=1e-9)
    json.dumps(o.to_dict())
    json.dumps(m.to_dict())
    json.dumps(lodf(g).to_dict())


def test_islanding_sets_equal_fresh_dc_solves(setup):
    """Sets that cut off parts of the grid (bridges plus random branches, and every branch at a
    bus = a substation outage): the cut-off parts become islands with their own slack or go dark,
    solved without refactorising, equal to a fresh DC solve."""
    grid, s, _, _ = setup
    nl = len(grid.branches)
    br = np.flatnonzero(bridges(grid))
    rng = np.random.default_rng(2)
    sets = [
        np.r_[rng.choice(br, rng.integers(1, 3), replace=False), rng.choice(nl, rng.integers(0, 4), replace=False)]
        for _ in range(25)
    ]
    for b0 in rng.choice(len(grid.buses), 15, replace=False):
        inc = np.flatnonzero((grid.branches.from_bus == b0) | (grid.branches.to_bus == b0))
        sets.append(inc)
    m = multi_outage_flows(grid, sets, solver=s)
    assert m.islanding.sum() >= 25
    for i, k in enumerate(sets):
        fresh = _fresh(grid, k)
        np.testing.assert_allclose(m.flows_mw[:, i], fresh.p_from_mw, rtol=0, atol=1e-6, err_msg=f"set {k}")
        if m.islanding[i] and m.isolated_dark[i]:
            assert not fresh.bus_energised[m.isolated_buses[i]].any()


def test_isolated_load_is_consistent_between_single_and_multi(setup):
    grid, s, _, _ = setup
    br = np.flatnonzero(bridges(grid))[:30]
    one = outage_flows(grid, outages=br, solver=s, keep_flows=False)
    many = multi_outage_flows(grid, [[k] for k in br], solver=s, keep_flows=False)
    np.testing.assert_allclose(many.isolated_load_mw, one.isolated_load_mw, atol=1e-9)
    np.testing.assert_array_equal(many.isolated_dark, one.isolated_dark)
    np.testing.assert_array_equal(many.islanding, one.islanding)
    for a, b in zip(many.isolated_buses, one.isolated_buses, strict=True):
        np.testing.assert_array_equal(np.sort(a), np.sort(b))
    np.testing.assert_allclose(many.max_loading_pct, one.max_loading_pct, atol=1e-9)


def test_extra_ratings_in_the_same_pass(setup):
    grid, s, _, _ = setup
    rate = grid.branches.rate_a_mva
    ks = np.arange(0, len(grid.branches), 7)
    one = outage_flows(grid, outages=ks, solver=s, extra_ratings=[rate, 0.5 * rate])
    many = multi_outage_flows(grid, [[k] for k in ks], solver=s, extra_ratings=[rate, 0.5 * rate])
    for r in (one, many):
        assert r.extra_max_loading_pct.shape == (2, ks.size)
        np.testing.assert_allclose(r.extra_max_loading_pct[0], one.max_loading_pct, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(r.extra_max_loading_pct[1], 2 * one.max_loading_pct, rtol=1e-12, atol=1e-9)
