"""AC security analysis: every verdict and number equals a brute-force fresh Newton-Raphson loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gridshield as gs
from gridshield.errors import GridshieldError, UnknownAssetError
from gridshield.flow.contingency import AcOutageSolver, Outage
from gridshield.security.ac import MAX_CONTINGENCIES, _pair, ac_security, contingency_assets, ratings
from gridshield.topology import islands
from tests.ac_reference import assert_same_as_brute_force, brute_force_ac
from tests.conftest import shared_case


@pytest.fixture(scope="module")
def pg118():
    return gs.load_case(str(shared_case("pglib/pglib_opf_case118_ieee.m")))


@pytest.fixture(scope="module")
def city():
    return gs.load_case("synthetic-city")


@pytest.mark.parametrize("q_limits", [True, False])
def test_pglib118_every_contingency_equals_brute_force(pg118, q_limits):
    res = ac_security(pg118, ("branches", "gens", "sites"), q_limits=q_limits)
    assert len(res) == 186 + 54 + 118
    ref = brute_force_ac(pg118, res.ids, q_limits=q_limits)
    assert_same_as_brute_force(res, ref)
    # the case is stressed: both kinds of violation occur, and some outages island load
    assert res.thermal.sum() > 10 and res.voltage.sum() > 0 and (res.islanded_mw > 0).sum() > 10
    assert set(res.status) <= {"secure", "thermal", "voltage", "thermal+voltage", "not converged", "no generation"}


def test_matpower_case118_voltage_checks_equal_brute_force():
    g = gs.load_case("case118")  # no branch ratings: voltages and Q limits only
    res = ac_security(g, ("branches", "gens", "sites"))
    ref = brute_force_ac(g, res.ids)
    assert_same_as_brute_force(res, ref)
    assert res.voltage.sum() > 10 and not res.thermal.any() and res.q_switched.sum() > 0


def test_city_sites_and_site_pairs_equal_brute_force(city):
    res = ac_security(city, ("sites", "site-pairs"))
    n = len(city.sites)
    assert len(res) == n + n * (n - 1) // 2 and set(res.kind) == {"site", "site-pair"}
    ref = brute_force_ac(city, res.ids)
    assert_same_as_brute_force(res, ref)
    assert res.thermal.sum() > 0 and (res.islanded_mw > 0).sum() > 0


def test_islanded_load_and_dark_buses(pg118):
    res = ac_security(pg118, ("branches",))
    isl = np.flatnonzero(res.islanded_mw > 0)
    assert isl.size > 0
    ld = pg118.loads
    for i in isl.tolist():
        # a radial branch: the load of the buses left without generation
        on = pg118.branches.in_service.copy()
        on[pg118.branches.index[res.ids[i]]] = False
        lab = islands(pg118, branch_in_service=on)
        dark = ~lab.energised
        assert res.islanded_mw[i] == pytest.approx(ld.p_mw[dark[ld.bus] & ld.in_service].sum(), abs=1e-9)
        assert res.dark_buses[i] == dark.sum()


def test_rating_b_and_threshold(city):
    r_a = ac_security(city, ("branches",), rating="a")
    r_b = ac_security(city, ("branches",), rating="b", threshold_pct=120.0)
    rb = ratings(city, "b")
    ref = brute_force_ac(city, r_b.ids, rating_mva=rb, threshold_pct=120.0)
    assert_same_as_brute_force(r_b, ref)
    assert r_b.thermal.sum() <= r_a.thermal.sum()
    # pegase has no rate B: "b" falls back to A
    g = gs.load_case("case9")
    assert np.array_equal(ratings(g, "b"), np.where(g.branches.rate_b_mva > 0, g.branches.rate_b_mva, g.branches.rate_a_mva))


def test_engine_iterates_to_the_brute_force_solution(pg118):
    """The compensated solves reach the same voltages as Newton-Raphson (not just the same verdicts)."""
    eng = AcOutageSolver(pg118)
    rows = np.flatnonzero(pg118.branches.in_service & ~eng.bridge)[:40]
    outs = [Outage((int(k),)) for k in rows]
    chk = eng.solve(outs, rating_mva=pg118.branches.rate_a_mva, vmin_pu=pg118.buses.vmin_pu,
                    vmax_pu=pg118.buses.vmax_pu)
    comp = np.array([m == "compensated" for m in chk.method])
    assert chk.converged.all() and comp.mean() >= 0.9  # a severe outage (41 degrees) goes to Newton-Raphson
    assert 2 <= chk.iterations[comp].mean() <= 8
    for j, o in enumerate(outs):
        r = eng.reference(o)
        assert chk.vm_min_pu[j] == pytest.approx(r.vm_pu[r.bus_energised].min(), abs=1e-9)


def test_entering_outages_get_the_full_mismatch(pg118):
    """An outage entering a slot at the base case gets, from the base case's mismatch and its touched rows,
    exactly the voltages, mismatch and norm that a full evaluation gives (branches, generators, sites)."""
    from gridshield.flow import _ca_kernels as CK
    from gridshield.flow.contingency import _Pass, _Results

    eng = AcOutageSolver(pg118)
    cases = contingency_assets(pg118, ("branches", "gens", "sites"))
    res = _Results(len(cases))
    p = _Pass(eng._outages([Outage(a.branches, a.gens) for a, _ in cases], res), eng)
    nb, m = eng.nb, p.n
    cols = np.arange(m, dtype=np.int64)
    y = (eng.y_indptr, eng.y_indices, eng.ydata)
    br = (eng.k_f, eng.k_t, eng.ac.yff, eng.ac.yft, eng.ac.ytf, eng.ac.ytt)
    tb = (p.rem_ptr, p.rem_idx, p.tb_ptr, p.tb_bus, p.tb_bal_p, p.tb_bal_q, p.tb_sb_r, p.tb_sb_i, eng.perm_r)
    vr, vi = (np.repeat(b, m, axis=1) for b in eng.base_cols)
    full, full_norm = np.zeros((2 * nb, m)), np.empty(m)
    CK.batch_mismatch(*y, eng.yr, eng.yi, vr, vi, cols, eng.k_bal, eng.k_sb_r, eng.k_sb_i, *br, *tb, full, full_norm)
    base_f = np.zeros((2 * nb, 1))
    CK.batch_mismatch(*y, eng.yr, eng.yi, *eng.base_cols, np.array([p.dummy]), eng.k_bal, eng.k_sb_r, eng.k_sb_i,
                      *br, *tb, base_f, np.empty(1))
    base_f = base_f[:, 0].copy()
    desc = np.argsort(-np.abs(base_f), kind="stable").astype(np.int64)
    wr, wi, out, norm = np.zeros((nb, m)), np.zeros((nb, m)), np.full((2 * nb, m), np.nan), np.empty(m)
    CK.entrant_mismatch(cols, cols, eng.base_cols[0][:, 0].copy(), eng.base_cols[1][:, 0].copy(), base_f, desc, *y,
                        wr, wi, *br, *tb, out, norm)
    assert np.array_equal(wr, vr) and np.array_equal(wi, vi)
    assert np.array_equal(out, full) and np.array_equal(norm, full_norm)
    assert (full_norm > 1e-3).sum() > 100  # the outages do change the mismatch


@pytest.mark.parametrize("case", ["pglib/pglib_opf_case118_ieee.m", "pglib/pglib_opf_case1354_pegase.m"])
@pytest.mark.parametrize("q_limits", [True, False])
def test_single_branch_outage_data_in_bulk_equals_one_by_one(case, q_limits):
    """The outage data of every single-branch outage built in bulk (per-branch tables; bridges by the cut-off
    subtree, :func:`bridge_outages`) equals the general one-outage path (islands relabelled, bus types by the
    power flow's rules, every bus compared with the base case), islanded load and reasons included."""
    from gridshield.flow.contingency import _Results

    grid = gs.load_case(str(shared_case(case)))
    eng = AcOutageSolver(grid, q_limits=q_limits)
    ks = np.flatnonzero(eng.on & (eng.bridge | (np.arange(eng.on.size) < 400)))  # every bridge, some others
    outs = [Outage((int(k),)) for k in ks]
    bulk_res, one_res = _Results(ks.size), _Results(ks.size)
    bulk = eng._outages(outs, bulk_res)
    at = {int(c): j for j, c in enumerate(bulk.gid.tolist())}
    kinds = {"split nothing": 0, "dark part": 0, "part with a new slack": 0, "not solvable": 0}
    for c, o in enumerate(outs):
        ref = eng._item(c, o, one_res)
        if ref is None:
            assert c not in at
            kinds["not solvable"] += 1
            continue
        got = bulk.item(at[c])
        assert np.array_equal(got.rem, ref.rem) and np.array_equal(got.dark, ref.dark)
        for key, names in (("tb", ("tb", "tb_type", "tb_sbus")), ("rows", ("rows", "rows_bal"))):
            a, b = np.argsort(getattr(got, key)), np.argsort(getattr(ref, key))  # their order does not matter
            for name in names:
                assert np.array_equal(getattr(got, name)[a], getattr(ref, name)[b]), (c, name)
        assert got.key == ref.key and got.start is None and ref.start is None
        assert all(x.size == 0 for x in got.gov + ref.gov)
        post = eng._post_of(got)
        assert np.array_equal(post.btype, ref.post.btype) and np.array_equal(post.energised, ref.post.energised)
        same_island = post.label[:, None] == post.label[None, :]
        assert np.array_equal(same_island, ref.post.label[:, None] == ref.post.label[None, :])
        kinds["dark part" if got.dark.size else "part with a new slack" if eng.bridge[o.branches[0]]
              else "split nothing"] += 1
    assert np.array_equal(bulk_res.islanded_mw, one_res.islanded_mw)
    assert np.array_equal(bulk_res.dark_buses, one_res.dark_buses) and bulk_res.reason == one_res.reason
    assert kinds["split nothing"] > 100 and kinds["dark part"] > 0
    if "1354" in case:
        assert kinds["part with a new slack"] > 0


def test_compensation_vectors_equal_dense_solves(pg118):
    """The cached sparse compensation vectors (elimination-tree paths) equal dense triangular solves: ``W_r =
    L^-1 Pr e_r`` on its path, and ``U^-T`` of any vector on row r's Ybus neighbourhood zero off the V pattern."""
    from scipy.linalg import solve_triangular

    from gridshield.flow import _ca_kernels as CK

    eng = AcOutageSolver(pg118)
    nb, n2 = eng.nb, 2 * eng.nb
    rc = eng.rows
    rc.ensure(np.arange(n2))
    low = np.eye(n2)
    low[eng.l_idx, np.repeat(np.arange(n2), np.diff(eng.l_ptr))] = eng.l_val64
    up = np.diag(1.0 / eng.u_dinv64)
    up[np.repeat(np.arange(n2), np.diff(eng.ur_ptr)), eng.ur_idx] = eng.ur_val
    rng = np.random.default_rng(3)
    for r in range(n2):
        w_idx = rc.w_idx[rc.w_ptr[r]:rc.w_ptr[r] + rc.w_len[r]]
        v_idx = rc.v_idx[rc.v_ptr[r]:rc.v_ptr[r] + rc.v_len[r]]
        assert np.all(np.diff(w_idx) > 0) and np.all(np.diff(v_idx) > 0)  # ascending: a topological order
        w = solve_triangular(low, np.eye(n2)[eng.perm_r[r]], lower=True, unit_diagonal=True)
        got = np.zeros(n2)
        got[w_idx] = rc.w_val[rc.w_ptr[r]:rc.w_ptr[r] + rc.w_len[r]]
        assert np.allclose(got, w, rtol=0, atol=1e-12 * np.abs(w).max())
        nbr = eng.y_indices[eng.y_indptr[r % nb]:eng.y_indptr[r % nb + 1]]
        b = np.zeros(n2)
        b[eng.perm_c[np.r_[nbr, nb + nbr]]] = rng.standard_normal(2 * nbr.size)
        v = solve_triangular(up.T, b, lower=True)
        off = np.ones(n2, dtype=bool)
        off[v_idx] = False
        assert not np.any(v[off])
    # the paths of a random (not closed) pattern contain every node its graph reaches
    n = 300
    pat = np.tril(rng.random((n, n)) < 0.01, -1)
    ptr = np.r_[0, np.cumsum(pat.sum(axis=0))].astype(np.int64)
    idx = np.flatnonzero(pat.T.ravel()) % n
    parent = CK.etree(ptr, idx.astype(np.int64), n)
    reach = np.eye(n) + pat  # reach[i, j]: a path j -> i (transitive closure by squaring)
    for _ in range(9):
        reach = (reach @ reach > 0).astype(float)
    longer = 0
    for j in range(n):
        path, k = set(), j
        while k != -1:
            path.add(k)
            k = parent[k]
        got = set(np.flatnonzero(reach[:, j]).tolist())
        assert got <= path
        longer += len(path) > len(got)
    assert longer > 0  # the pattern is not closed: some paths hold more than the reach


@pytest.mark.parametrize("case", ["pglib/pglib_opf_case118_ieee.m", "pglib/pglib_opf_case1354_pegase.m"])
def test_bridges_from_the_search_tree_equal_tarjan_and_brute_force(case):
    """The engine's bridges (low-link over its depth-first forest) equal :func:`gridshield.topology.bridges`,
    and on case118 a brute force: the branches whose removal adds a connected component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from gridshield.topology import bridges

    grid = gs.load_case(str(shared_case(case)))
    eng = AcOutageSolver(grid, q_limits=False)
    assert np.array_equal(eng.bridge, bridges(grid, eng.on)) and eng.bridge.sum() > 5
    if "118" in case:
        f, t, nb = grid.branches.from_bus, grid.branches.to_bus, eng.nb

        def parts(on):
            return connected_components(coo_matrix((np.ones(on.sum()), (f[on], t[on])), shape=(nb, nb)))[0]

        base = parts(eng.on)
        brute = np.array([eng.on[k] and parts(eng.on & (np.arange(f.size) != k)) > base for k in range(f.size)])
        assert np.array_equal(eng.bridge, brute)


def test_workers_give_the_same_table(city):
    one = ac_security(city, ("branches", "sites", "site-pairs"), batch=8)
    two = ac_security(city, ("branches", "sites", "site-pairs"), batch=8, workers=2)
    a, b = one.to_frame(), two.to_frame()
    assert list(a.index) == list(b.index)
    assert (a.status == b.status).all()
    np.testing.assert_allclose(a.max_loading_pct, b.max_loading_pct, atol=1e-9)
    np.testing.assert_allclose(a.vm_min_pu, b.vm_min_pu, atol=1e-12)


def test_contingency_lists_and_bounds(city, pg118):
    n = 25
    assert [_pair(i, n) for i in range(n * (n - 1) // 2)] == [(a, b) for a in range(n) for b in range(a + 1, n)]
    cs = contingency_assets(city, ("site-pairs",), sample=10, seed=3)
    assert len(cs) == 10 and all(k == "site-pair" and "+" in a.id for a, k in cs)
    assert [a.id for a, _ in cs] == [a.id for a, _ in contingency_assets(city, ("site-pairs",), sample=10, seed=3)]
    ids = ["site:CHP-Aurora+site:GTP-Delta", city.branches.id[0], city.gens.id[0], f"{city.branches.id[1]}+{city.gens.id[1]}"]
    got = contingency_assets(city, contingencies=ids)
    assert [a.id for a, _ in got] == ids and [k for _, k in got] == ["site-pair", "branch", "gen", "multi"]
    pair = got[0][0]
    assert set(pair.branches) >= set(contingency_assets(city, contingencies=["site:GTP-Delta"])[0][0].branches)
    with pytest.raises(GridshieldError, match="site-pairs.*--sample"):
        contingency_assets(gs.load_case("case2869pegase"), ("site-pairs",))
    with pytest.raises(GridshieldError, match="sample"):
        contingency_assets(city, ("branches",), sample=0)
    with pytest.raises(GridshieldError, match=str(MAX_CONTINGENCIES)[:1]):
        contingency_assets(city, ("branches",), sample=MAX_CONTINGENCIES + 1)
    with pytest.raises(GridshieldError, match="elements"):
        ac_security(city, ("lines",))
    with pytest.raises(GridshieldError, match="rating"):
        ac_security(city, rating="x")
    with pytest.raises(GridshieldError, match="workers"):
        ac_security(city, workers=0)
    with pytest.raises(GridshieldError, match="threshold"):
        ac_security(city, threshold_pct=-1)
    with pytest.raises(UnknownAssetError):
        ac_security(city, contingencies=["branch:99999"])


def test_result_table_and_json(city, tmp_path):
    res = ac_security(city, ("branches", "gens"))
    df = res.to_frame()
    assert list(df.index) == list(res.ids)
    for col in ("status", "max_loading_pct", "max_loading_branch", "vm_min_pu", "vm_min_bus", "vm_max_pu",
                "vm_max_bus", "islanded_mw", "thermal", "voltage"):
        assert col in df.columns
    d = json.loads(json.dumps(res.to_dict()))
    assert d["summary"]["contingencies"] == len(res) == len(d["contingencies"])
    row = d["contingencies"][int(np.nanargmax(res.max_loading_pct))]
    assert row["max_loading_branch"] in city.branches.index
    df.to_parquet(tmp_path / "t.parquet")


@pytest.mark.slow
def test_case2869_every_contingency_equals_brute_force():
    g = gs.load_case("case2869pegase")
    res = ac_security(g, ("branches", "gens", "sites"))
    assert len(res) == 4582 + 510 + 2869
    ref = brute_force_ac(g, res.ids)
    assert_same_as_brute_force(res, ref)
    assert res.thermal.sum() > 100 and res.voltage.sum() > 0
